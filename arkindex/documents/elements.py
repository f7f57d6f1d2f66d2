"""Making elements and linking them: the only code that writes `ElementPath`.

Every element gets its own path row (itself at depth 0) when it is created; linking a child
under a parent adds a row from each ancestor of the parent (the parent included) to each
descendant of the child (the child included), in one `INSERT … SELECT`, whatever the depth.
"""

from django.db import connection, transaction

from arkindex.documents.models import Element, ElementPath

# The shortest path wins when a pair is reached again through another parent. `ON CONFLICT
# … DO UPDATE` has the same syntax on PostgreSQL and SQLite (≥ 3.24); the WHERE of the
# SELECT also lifts SQLite's parsing ambiguity of `INSERT … SELECT … ON CONFLICT`.
LINK_SQL = """
INSERT INTO documents_elementpath (ancestor_id, descendant_id, depth)
SELECT above.ancestor_id, below.descendant_id, above.depth + 1 + below.depth
FROM documents_elementpath above, documents_elementpath below
WHERE above.descendant_id = %s AND below.ancestor_id IN ({children})
ON CONFLICT (ancestor_id, descendant_id) DO UPDATE SET depth = excluded.depth
WHERE excluded.depth < documents_elementpath.depth
"""


class CycleError(ValueError):
    pass


def _db_id(value):
    return Element._meta.pk.get_db_prep_value(getattr(value, "pk", value), connection)


def _link(parent, children):
    """Path rows from `parent` and its ancestors to `children` and their descendants."""
    placeholders = ", ".join(["%s"] * len(children))
    with connection.cursor() as cursor:
        cursor.execute(
            LINK_SQL.format(children=placeholders),
            [_db_id(parent), *(_db_id(child) for child in children)],
        )


@transaction.atomic
def create_element(*, corpus, type, name, parent=None, worker_run=None, confidence=None):
    """A new element, under `parent` when given (which must be in the same corpus)."""
    if parent is not None and parent.corpus_id != getattr(corpus, "pk", corpus):
        raise ValueError("An element's parent must be in the same corpus.")
    element = Element.objects.create(
        corpus_id=getattr(corpus, "pk", corpus),
        type=type,
        name=name,
        worker_run_id=getattr(worker_run, "pk", worker_run),
        confidence=confidence,
    )
    ElementPath.objects.create(ancestor=element, descendant=element, depth=0)
    if parent is not None:
        _link(parent, [element])
    return element


@transaction.atomic
def create_elements(*, corpus, type, names, parent=None, worker_run=None, batch_size=1000):
    """Many new elements of one type at once, under `parent` when given (for imports, demos
    and benchmarks): a few statements per batch, whatever the depth of `parent`."""
    corpus_id = getattr(corpus, "pk", corpus)
    if parent is not None and parent.corpus_id != corpus_id:
        raise ValueError("An element's parent must be in the same corpus.")
    created = []
    names = list(names)
    for start in range(0, len(names), batch_size):
        batch = Element.objects.bulk_create(
            Element(
                corpus_id=corpus_id,
                type=type,
                name=name,
                worker_run_id=getattr(worker_run, "pk", worker_run),
            )
            for name in names[start : start + batch_size]
        )
        ElementPath.objects.bulk_create(
            ElementPath(ancestor=element, descendant=element, depth=0) for element in batch
        )
        if parent is not None:
            _link(parent, batch)
        created.extend(batch)
    return created


@transaction.atomic
def add_parent(child, parent):
    """Link `child` under `parent` (same corpus; the graph stays acyclic).

    Linking twice is harmless. A cycle is refused with `CycleError`; two concurrent links
    that would only together make a cycle are not detected (the API only links an element
    when it creates it, which cannot make one).
    """
    if child.corpus_id != parent.corpus_id:
        raise ValueError("An element's parent must be in the same corpus.")
    if ElementPath.objects.filter(ancestor_id=child.pk, descendant_id=parent.pk).exists():
        raise CycleError(f"{parent.pk} is {child.pk} or one of its descendants.")
    _link(parent, [child])
