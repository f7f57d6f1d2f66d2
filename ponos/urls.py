from django.urls import path

from ponos.api.farms import FarmList

urlpatterns = [
    path("farms/", FarmList.as_view(), name="farm-list"),
]
