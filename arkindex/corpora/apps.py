from django.apps import AppConfig


class CorporaConfig(AppConfig):
    name = "arkindex.corpora"
    label = "corpora"
