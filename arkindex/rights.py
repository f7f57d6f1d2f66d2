"""Access rules, as query filters.

Each function returns a `Q` for objects reached through `prefix` (the lookup path from the
queried model to a Process, e.g. "process__" from a Task, "" from a Process), so that
`ponos` and `process` apply the same rules without importing each other.
One condition per line; superusers get an empty filter.
"""

from django.db.models import Q

from arkindex.corpora.models import Corpus, CorpusMembership, Level

NOTHING = Q(pk__in=[])

# Conditions on corpora are written `corpus_id IN (subquery)`, not as a join or a correlated
# EXISTS: PostgreSQL reads the user's few memberships (or the public corpora) once into a
# hash, instead of probing an index for every row it filters. On ListProcesses over 100,000
# processes this made the count 1.5 to 6 times faster.


def member_of(user, corpus_id, level):
    """A Q true when `user` has at least `level` on the corpus whose id is at `corpus_id`."""
    memberships = CorpusMembership.objects.filter(user_id=user.pk, level__gte=level)
    return Q(**{f"{corpus_id}__in": memberships.values("corpus_id")})


def public(corpus_id):
    """A Q true when the corpus whose id is at `corpus_id` is public."""
    return Q(**{f"{corpus_id}__in": Corpus.objects.filter(public=True).values("pk")})


def readable_corpora(user):
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    return Q(public=True) | member_of(user, "pk", Level.GUEST)


def readable_processes(user, prefix=""):
    """Read a process: guest on its corpus (public corpora included), or its creator."""
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    return (
        Q(**{f"{prefix}creator_id": user.pk})
        | public(f"{prefix}corpus_id")
        | member_of(user, f"{prefix}corpus_id", Level.GUEST)
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
    return member_of(user, f"{prefix}corpus_id", Level.ADMIN) | (
        creator
        & (
            Q(**{f"{prefix}corpus__isnull": True})
            | member_of(user, f"{prefix}corpus_id", Level.CONTRIBUTOR)
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


def readable_in_corpus(user, prefix=""):
    """Read an object of a corpus (element type, element, transcription): guest on the corpus
    at `{prefix}corpus_id`, public corpora included."""
    if not user.is_authenticated:
        return NOTHING
    if user.is_admin:
        return Q()
    return public(f"{prefix}corpus_id") | member_of(user, f"{prefix}corpus_id", Level.GUEST)
