import pytest
from django.test import override_settings


@pytest.fixture
def default_farm(farm):
    """`farm` is the default farm, open to every user."""
    with override_settings(PONOS_DEFAULT_FARM=farm.pk):
        yield farm
