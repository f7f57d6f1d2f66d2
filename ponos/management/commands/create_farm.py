from django.core.management.base import BaseCommand, CommandError

from ponos.farms import create_farm


class Command(BaseCommand):
    help = "Create a farm and print its id and seed (the seed agents register with)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Name of the farm")

    def handle(self, name, **options):
        name = name.strip()
        if not name or len(name) > 250:
            raise CommandError("The farm name must have 1 to 250 characters.")
        farm = create_farm(name)
        self.stdout.write(f"id: {farm.id}")
        self.stdout.write(f"seed: {farm.seed}")
