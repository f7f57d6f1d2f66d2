import uuid

from django.core.management.base import BaseCommand, CommandError

from ponos.farms import regenerate_seed
from ponos.models import Farm


class Command(BaseCommand):
    help = (
        "Give a farm a new seed and print it. Every agent of the farm loses its token and "
        "must register again with the new seed; the tasks they held are handled as at a "
        "re-registration (pending: back to the queue, running: error, stopping: stopped)."
    )

    def add_arguments(self, parser):
        parser.add_argument("farm", help="Id of the farm")

    def handle(self, farm, **options):
        try:
            farm_id = uuid.UUID(farm)
        except ValueError:
            raise CommandError(f"{farm!r} is not a farm id (a UUID).") from None
        if not Farm.objects.filter(pk=farm_id).exists():
            raise CommandError(f"No farm has the id {farm_id}.")
        farm, agents, tasks = regenerate_seed(farm_id)
        self.stdout.write(f"id: {farm.id}")
        self.stdout.write(f"seed: {farm.seed}")
        self.stdout.write(
            f"Revoked the tokens of {agents} agent(s) of {farm.name}; "
            f"released {tasks} task(s) they held."
        )
