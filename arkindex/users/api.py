from django.contrib.auth import authenticate, login
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from arkindex.api.permissions import DefaultPermission
from arkindex.api.throttling import ClientAddressThrottle
from arkindex.users.serializers import LoggedInUserSerializer, LoginSerializer, UserSerializer
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
