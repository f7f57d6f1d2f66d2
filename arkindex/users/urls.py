from django.urls import path

from arkindex.users.api import Login, RetrieveUser, UserTokenDetail, UserTokenList

urlpatterns = [
    path("user/login/", Login.as_view(), name="login"),
    path("user/", RetrieveUser.as_view(), name="user"),
    path("user/tokens/", UserTokenList.as_view(), name="user-tokens"),
    path("user/tokens/<uuid:id>/", UserTokenDetail.as_view(), name="user-token"),
]
