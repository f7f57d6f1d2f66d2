from rest_framework.permissions import SAFE_METHODS, BasePermission


def caller_kind(request):
    """'user', 'task' or 'agent', from the authentication class that accepted the request."""
    authenticator = getattr(request, "successful_authenticator", None)
    return getattr(authenticator, "caller_kind", "user")


class DefaultPermission(BasePermission):
    """Authenticated callers only, with the caller kinds of SPEC §3.

    - users: every view (each view then applies its object rights);
    - task tokens: read-only, except on views that set `allow_task_writes`;
    - agents: only on views that set `allow_agents`.
    """

    def has_permission(self, request, view):
        kind = caller_kind(request)
        if kind == "agent":
            return request.auth is not None and getattr(view, "allow_agents", False)
        if kind == "task":
            return request.method in SAFE_METHODS or getattr(view, "allow_task_writes", False)
        return bool(request.user and request.user.is_authenticated)


class IsSuperuserOrReadOnly(BasePermission):
    """Workers and versions run code on agent hosts: only superusers change them."""

    def has_permission(self, request, view):
        if not DefaultPermission().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        return caller_kind(request) == "user" and request.user.is_admin
