"""The product's URLs plus `bench/noop/`: authenticated like every API view, admitting
agents, and doing nothing else. It is the floor of a request through the same stack
(gunicorn, middleware, DRF, authentication, permission, JSON rendering)."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from arkindex.urls import handler404, handler500
from arkindex.urls import urlpatterns as product_urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


class Noop(APIView):
    allow_agents = True
    schema = None

    def get(self, request):
        return Response({})


NOOP_PATH = "/api/v1/bench/noop/"

urlpatterns = [path(NOOP_PATH.lstrip("/"), Noop.as_view(), name="bench-noop")]
urlpatterns += product_urlpatterns
