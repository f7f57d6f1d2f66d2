import re
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ponos.models import Farm

pytestmark = pytest.mark.django_db


def create_farm(*args):
    out = StringIO()
    call_command("create_farm", *args, stdout=out)
    return out.getvalue()


def test_create_farm_prints_the_id_and_the_seed_on_two_lines():
    output = create_farm("GPU farm")
    match = re.fullmatch(r"id: (?P<id>\S+)\nseed: (?P<seed>\S+)\n", output)
    assert match, output
    farm = Farm.objects.get()
    assert uuid.UUID(match["id"]) == farm.id
    assert match["seed"] == farm.seed
    assert farm.name == "GPU farm"


def test_each_farm_gets_its_own_long_random_seed():
    create_farm("One")
    create_farm("Two")
    one, two = Farm.objects.order_by("name")
    assert one.seed != two.seed
    assert len(one.seed) >= 32


def test_the_name_is_stripped():
    create_farm("  Spaced  ")
    assert Farm.objects.get().name == "Spaced"


@pytest.mark.parametrize("name", ["", "   ", "x" * 251])
def test_a_blank_or_too_long_name_is_refused(name):
    with pytest.raises(CommandError, match="1 to 250 characters"):
        create_farm(name)
    assert not Farm.objects.exists()


def test_the_name_is_required():
    with pytest.raises(CommandError):
        create_farm()
