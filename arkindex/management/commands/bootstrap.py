import os

from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from arkindex.users.models import User


class Command(BaseCommand):
    help = (
        "Create the first superuser once (DJANGO_SUPERUSER_EMAIL, default admin@localhost) "
        "and print its API token."
    )

    def handle(self, **options):
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "admin@localhost")
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_superuser(
                email, os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None
            )
            self.stdout.write(f"Created the superuser {email}.")
        token, _created = Token.objects.get_or_create(user=user)
        self.stdout.write(f"API token: {token.key}")
