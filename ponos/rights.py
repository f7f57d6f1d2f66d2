"""Who may use and administer a farm, and reach a task, as query filters (see arkindex.rights)."""

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from arkindex.corpora.models import Level
from arkindex.rights import NOTHING, manageable_processes, readable_processes
from ponos.models import FarmMembership


def farm_member(user, farm_ref, level):
    return Exists(
        FarmMembership.objects.filter(farm_id=OuterRef(farm_ref), user_id=user.pk, level__gte=level)
    )


def usable_farms(user, prefix=""):
    """Farms a user may run processes on: guest members, and the default farm for everyone."""
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    condition = farm_member(user, f"{prefix}pk", Level.GUEST)
    if settings.PONOS_DEFAULT_FARM:
        condition |= Q(**{f"{prefix}pk": settings.PONOS_DEFAULT_FARM})
    return condition


def administered_farms(user, prefix=""):
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    return farm_member(user, f"{prefix}pk", Level.ADMIN)


# Tasks, for the three kinds of callers of SPEC §3. `user` is request.user (a task token
# reads as its process creator) and `agent` the calling agent (request.auth), or None.


def readable_tasks(user, agent=None):
    """Tasks a caller may read: through their process for users and task tokens; an agent
    reads only the tasks it holds."""
    if agent is not None:
        return Q(agent_id=agent.pk)
    return readable_processes(user, prefix="process__")


def artifact_readable_tasks(user, agent=None):
    """Tasks whose artifacts a caller may list and download.

    An agent fetches the artifacts of its task's parents, which other agents of the farm
    ran: it reads the artifacts of every task of a process on its farm.
    """
    if agent is not None:
        return Q(process__farm_id=agent.farm_id) | Q(agent_id=agent.pk)
    return readable_processes(user, prefix="process__")


def manageable_tasks(user):
    """Tasks a user may stop and restart: those of the processes they manage."""
    return manageable_processes(user, prefix="process__")
