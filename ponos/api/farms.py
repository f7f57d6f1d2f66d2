from rest_framework import generics

from ponos.models import Farm
from ponos.rights import usable_farms
from ponos.serializers.farms import FarmSerializer


class FarmList(generics.ListAPIView):
    """Farms the caller may run processes on."""

    operation_ids = {"get": "ListFarms"}
    serializer_class = FarmSerializer

    def get_queryset(self):
        return Farm.objects.filter(usable_farms(self.request.user)).order_by("name", "id")
