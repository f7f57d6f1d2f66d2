from django.contrib.auth import authenticate, login
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response

from arkindex.api.permissions import DefaultPermission, caller_kind
from arkindex.api.throttling import ClientAddressThrottle
from arkindex.users.models import UserToken
from arkindex.users.serializers import (
    LoggedInUserSerializer,
    LoginSerializer,
    UserSerializer,
    UserTokenSerializer,
)
from arkindex.users.tokens import issue_token


class LoginThrottle(ClientAddressThrottle):
    """Per client address, authenticated or not: password guessing is throttled."""

    scope = "login"


def log_in(request, email, password):
    """Check an email and password and open a Django session for the user, or return None.

    The API's Login and the login page of the pages for humans both go through here, so one
    login serves the API (with the session cookie) and the pages alike. `request` is
    Django's own request.
    """
    user = authenticate(request, email=email, password=password)
    if user is not None:
        login(request, user)
    return user


class Login(generics.GenericAPIView):
    operation_ids = {"post": "Login"}
    serializer_class = LoginSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [LoginThrottle]

    @extend_schema(responses={200: LoggedInUserSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Also opens a session, for the browser frontend and the pages.
        user = log_in(
            request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            raise AuthenticationFailed("Wrong email or password.")
        # Each login issues a token of its own: logging in elsewhere revokes nothing, and
        # the key is shown this once (only its digest is stored).
        key = issue_token(user, description="Login")
        data = LoggedInUserSerializer(user, context={"auth_token": key}).data
        return Response(data, status=status.HTTP_200_OK)

    def get_authenticate_header(self, request):
        return "Token"


class RetrieveUser(generics.RetrieveAPIView):
    operation_ids = {"get": "RetrieveUser"}
    serializer_class = UserSerializer
    permission_classes = [DefaultPermission]

    def get_object(self):
        return self.request.user


class UserCallerOnly(BasePermission):
    """A user, by token or session: not the code of a task acting as its process creator
    (it must not see nor revoke its creator's credentials), nor an agent."""

    def has_permission(self, request, view):
        if caller_kind(request) != "user":
            return False
        return bool(request.user and request.user.is_authenticated)


class UserTokenList(generics.ListAPIView):
    """The caller's API tokens: when and how each was issued, never a key."""

    operation_ids = {"get": "ListUserTokens"}
    serializer_class = UserTokenSerializer
    queryset = UserToken.objects.none()
    permission_classes = [UserCallerOnly]

    def get_queryset(self):
        return UserToken.objects.filter(user=self.request.user).order_by("-created", "id")


class UserTokenDetail(generics.DestroyAPIView):
    """Revoke one of the caller's API tokens (the one of this request included): it stops
    working at once. Another user's token is a 404, as an unknown one."""

    operation_ids = {"delete": "DestroyUserToken"}
    serializer_class = UserTokenSerializer
    queryset = UserToken.objects.none()
    permission_classes = [UserCallerOnly]
    lookup_field = "id"

    def get_queryset(self):
        return UserToken.objects.filter(user=self.request.user)
