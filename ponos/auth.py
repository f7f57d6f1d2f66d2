"""Authentication of the code running inside tasks and of agents."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, OuterRef
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from ponos.models import ACTIVE_STATES, GPU, Agent, Task, hash_token


def credentials(request, keyword):
    """The credential after `keyword` in the Authorization header, or None for another scheme."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != keyword.lower().encode():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            f"Invalid {keyword} header: expected '{keyword} <token>'."
        )
    try:
        token = parts[1].decode()
    except UnicodeError:
        raise exceptions.AuthenticationFailed(f"Invalid {keyword} token.") from None
    if "\x00" in token:
        # PostgreSQL refuses a NUL in a query parameter: no token has one.
        raise exceptions.AuthenticationFailed(f"Invalid {keyword} token.")
    return token


class TaskTokenAuthentication(BaseAuthentication):
    """`Authorization: Ponos <task token>`: the task, reading as its process creator.

    The token only works while its task is active (a finished task's code cannot act) and
    while the process creator is active (deactivating a user stops their tasks' code).
    """

    caller_kind = "task"
    keyword = "Ponos"

    def authenticate(self, request):
        token = credentials(request, self.keyword)
        if token is None:
            return None
        # Found by the digest of the token through its unique index, in one query: the
        # creator's row is joined anyway to become the request's user. `get` orders
        # nothing: `first` would sort by the task's default ordering (through the process),
        # which costs every task request more to compile than the lookup costs to run.
        try:
            task = Task.objects.select_related("process__creator").get(
                token_hash=hash_token(token),
                state__in=ACTIVE_STATES,
                process__creator__is_active=True,
            )
        except Task.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or expired task token.") from None
        return task.process.creator, task

    def authenticate_header(self, request):
        return self.keyword


class AgentTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <agent token>`; tokens are stored as SHA-256 digests."""

    caller_kind = "agent"
    keyword = "Bearer"

    def authenticate(self, request):
        token = credentials(request, self.keyword)
        if token is None:
            return None
        # Comparing digests through a unique index leaks nothing about the token itself.
        agent = (
            Agent.objects.select_related("farm")
            # Polls skip reading GPUs for the agents that have none (most of them).
            .annotate(has_gpus=Exists(GPU.objects.filter(agent=OuterRef("pk"))))
            .filter(token_hash=hash_token(token))
            .first()
        )
        if agent is None:
            raise exceptions.AuthenticationFailed("Invalid agent token.")
        return AnonymousUser(), agent

    def authenticate_header(self, request):
        return self.keyword
