from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from rest_framework.authtoken.models import TokenProxy

from arkindex.users.models import User, UserToken

# DRF's own token admin lists keys in clear; its table only held the keys of earlier
# releases, which the upgrade turned into UserTokens and removed.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


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


@admin.register(UserToken)
class UserTokenAdmin(admin.ModelAdmin):
    """Every API token, to find a user's and revoke (delete) one: when and how each was
    issued, never its key (only a digest is stored, and the digest is not shown either)."""

    list_display = ["user", "description", "created"]
    list_select_related = ["user"]
    search_fields = ["user__email", "description"]
    list_filter = ["created"]
    fields = ["user", "description", "created"]
    readonly_fields = ["user", "created"]

    def has_add_permission(self, request):
        # A key is shown once, by what issues it (Login, make run's bootstrap): an admin
        # form could not show it.
        return False
