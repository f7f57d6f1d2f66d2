from django.apps import AppConfig


class ArkindexConfig(AppConfig):
    name = "arkindex"
    verbose_name = "Arkindex"

    def ready(self):
        # Registers the system checks and the schema extensions of our auth classes.
        from arkindex import checks  # noqa: F401
        from arkindex.api import schema  # noqa: F401
