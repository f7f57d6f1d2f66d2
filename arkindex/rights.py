"""Access rules, as query filters.

Each function returns a `Q` for objects reached through `prefix` (the lookup path from the
queried model to a Process, e.g. "process__" from a Task, "" from a Process), so that
`ponos` and `process` apply the same rules without importing each other.
One condition per line; superusers get an empty filter.
"""

from django.db.models import Exists, OuterRef, Q

from arkindex.corpora.models import CorpusMembership, Level

NOTHING = Q(pk__in=[])


def corpus_member(user, corpus_ref, level):
    """An Exists() true when `user` has at least `level` on the corpus at `corpus_ref`."""
    return Exists(
        CorpusMembership.objects.filter(
            corpus_id=OuterRef(corpus_ref), user_id=user.pk, level__gte=level
        )
    )


def readable_corpora(user):
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    return Q(public=True) | corpus_member(user, "pk", Level.GUEST)


def readable_processes(user, prefix=""):
    """Read a process: guest on its corpus (public corpora included), or its creator."""
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    return (
        Q(**{f"{prefix}creator_id": user.pk})
        | Q(**{f"{prefix}corpus__public": True})
        | corpus_member(user, f"{prefix}corpus_id", Level.GUEST)
    )


def manageable_processes(user, prefix=""):
    """Manage a process: admin on its corpus, or its creator with contributor on it.

    The creator of a process without corpus manages it alone.
    """
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    creator = Q(**{f"{prefix}creator_id": user.pk})
    return corpus_member(user, f"{prefix}corpus_id", Level.ADMIN) | (
        creator
        & (
            Q(**{f"{prefix}corpus__isnull": True})
            | corpus_member(user, f"{prefix}corpus_id", Level.CONTRIBUTOR)
        )
    )


def corpus_level(user, corpus):
    """The user's level on one corpus (None without access); superusers are admins."""
    if not user.is_authenticated:
        return None
    if user.is_admin:
        return Level.ADMIN
    level = (
        CorpusMembership.objects.filter(corpus=corpus, user_id=user.pk)
        .values_list("level", flat=True)
        .first()
    )
    if level is None and corpus.public:
        return Level.GUEST
    if corpus.public:
        return max(level, Level.GUEST)
    return level
