from django.core.management.base import BaseCommand, CommandError

from process.cleanup import cleanup

MIGRATION_HINT = (
    "{count} keys use the old storage layout: cleanup never deletes them. Run "
    "`manage.py migrate_ponos_storage` to rename them to the new layout."
)


class Command(BaseCommand):
    help = (
        "Delete the tasks of expired processes with their logs and artifacts, then orphaned "
        "objects, then release the tasks of dead agents. Run it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted, and change nothing.",
        )

    def handle(self, *, dry_run, **options):
        report = cleanup(dry_run=dry_run, progress=self.stdout.write)
        if report.old_layout:
            self.stdout.write(MIGRATION_HINT.format(count=report.old_layout))
        for message in report.messages:
            self.stderr.write(message)
        self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(
                f"{report.failures} failures: run the cleanup again once they are fixed."
            )
