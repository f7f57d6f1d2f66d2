from django.urls import path

from arkindex.users.api import Login, RetrieveUser

urlpatterns = [
    path("user/login/", Login.as_view(), name="login"),
    path("user/", RetrieveUser.as_view(), name="user"),
]
