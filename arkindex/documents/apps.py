from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "arkindex.documents"
    label = "documents"
