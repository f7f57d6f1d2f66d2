"""Who may use and administer a farm, as query filters (see arkindex.rights)."""

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from arkindex.corpora.models import Level
from arkindex.rights import NOTHING
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
