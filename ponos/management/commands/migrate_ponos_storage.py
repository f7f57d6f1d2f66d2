from django.core.management.base import BaseCommand, CommandError

from ponos.storage_migration import migrate_storage


class Command(BaseCommand):
    help = (
        "Rename logs and artifacts stored under the old layout (<workflow id>/...) to the new "
        "one (<task id>/...). Run it before enabling cleanup on an upgraded install."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the keys to rename, and change nothing.",
        )

    def handle(self, *, dry_run, **options):
        report = migrate_storage(dry_run=dry_run, progress=self.stdout.write)
        for message in report.messages:
            self.stderr.write(message)
        self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(
                f"{report.failures} failures: fix them, then run the migration again."
            )
