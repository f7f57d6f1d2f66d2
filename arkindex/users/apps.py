from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "arkindex.users"
    label = "users"
