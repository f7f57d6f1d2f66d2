from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from arkindex.users.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_admin", "is_active"]
    list_filter = ["is_admin", "is_active"]
    search_fields = ["email", "display_name"]
    filter_horizontal = []
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name"]}),
        ("Rights", {"fields": ["is_admin", "is_active"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "password1", "password2"]})]
