from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpResponse
from rest_framework.authtoken.models import TokenProxy

from arkindex.users.api import LoginThrottle
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


def throttled_admin_login(request, extra_context=None):
    """
    The admin's login page, throttled like Login and the pages' login: the same rate and
    the same counter per client address, so that guessing a superuser's password here is
    no faster than anywhere else. Only the POSTs checking a password count.
    """
    if request.method == "POST":
        throttle = LoginThrottle()
        if not throttle.allow_request(request, None):
            wait = int(throttle.wait() or 1) + 1
            response = HttpResponse(
                f"Too many login attempts from your address: try again in {wait} s.",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(wait)
            return response
    return admin.site.login(request, extra_context)


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
