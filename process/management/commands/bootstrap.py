import os

import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from process.bootstrap import DEFAULT_EMAIL, DEMO_VERSIONS, bootstrap, write_private_file


class Command(BaseCommand):
    help = (
        "Create, once, the superuser (DJANGO_SUPERUSER_EMAIL, default admin@localhost; "
        "password DJANGO_SUPERUSER_PASSWORD), a default farm, and a demo corpus, worker and "
        "started processes; later runs reuse them. Prints the superuser's API token."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-demo",
            dest="demo",
            action="store_false",
            help="only the superuser and the default farm",
        )
        parser.add_argument(
            "--password-file",
            help="without DJANGO_SUPERUSER_PASSWORD, give a new superuser a random password "
            "and write it to this file",
        )
        parser.add_argument(
            "--token-file",
            help="keep the superuser's API token in this file, readable by its owner only, "
            "and print that token again at each run while it is valid (only a digest of a "
            "token is stored in the database); without it, each run issues a new token",
        )
        parser.add_argument(
            "--agent-config",
            help="write the default farm's id and seed to this YAML file, readable by its "
            "owner only, for `ponos-agent --config`",
        )

    def handle(self, *, demo, password_file, token_file, agent_config, **options):
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL") or DEFAULT_EMAIL
        try:
            found = bootstrap(
                email=email,
                password=os.environ.get("DJANGO_SUPERUSER_PASSWORD"),
                password_file=password_file,
                token_file=token_file,
                demo=demo,
            )
        except ImproperlyConfigured as e:
            raise CommandError(str(e)) from e

        user = found.superuser.obj
        line = f"Superuser: {user.email} ({found.superuser.verb})"
        if not user.has_usable_password():
            line += f"; no password: set one with manage.py changepassword {user.email}"
        elif found.superuser.created and password_file and os.path.exists(password_file):
            line += f"; its password is in {password_file}"
        self.stdout.write(line)
        self.stdout.write(f"API token: {found.token}")

        farm = found.farm.obj
        self.stdout.write(f"Default farm: {farm.name} ({farm.id}, {found.farm.verb})")
        if agent_config:
            content = yaml.safe_dump({"farm": str(farm.id), "seed": farm.seed})
            write_private_file(agent_config, content)
            self.stdout.write(f"Agent configuration (farm and seed): {agent_config}")

        if found.corpus is not None:
            corpus = found.corpus.obj
            self.stdout.write(f"Demo corpus: {corpus.name} ({corpus.id}, {found.corpus.verb})")
        if found.versions is not None:
            versions = found.versions.obj
            described = ", ".join(
                f"version {version.version} {DEMO_VERSIONS[role][0]}"
                for role, version in versions.items()
            )
            worker = versions["write"].worker
            self.stdout.write(f"Demo worker: {worker.slug} ({found.versions.verb}); {described}")
        for process in found.processes:
            self.stdout.write(
                f"{process.obj.name}: {process.obj.id} ({process.verb}, {process.obj.state})"
            )
        self.stdout.write(f"Bootstrap done: {found.created()} created, {found.reused()} reused.")
