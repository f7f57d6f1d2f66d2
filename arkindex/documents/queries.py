"""Descendants and ancestors of elements, at any depth, in one query.

Both read the closure table `ElementPath` through an index (see its indexes), so the cost
does not grow with the depth of the graph and the same SQL runs on PostgreSQL and SQLite.
Each returns a QuerySet of elements, usable as is or as a subquery:
`Model.objects.filter(element_id__in=descendants([folder_id]).values("id"))`.
"""

from arkindex.documents.models import Element, ElementPath


def _ids(elements):
    """Element ids from ids, elements, or a QuerySet of elements (kept as a subquery)."""
    if hasattr(elements, "model") and elements.model is Element:
        return elements.values("id")
    return [getattr(element, "pk", element) for element in elements]


def descendant_ids(element_ids, include_self=False, max_depth=None):
    """A subquery of the ids of the elements below any of `element_ids`.

    Distinct: an element reached through several paths (the graph is a DAG) appears once.
    `max_depth=1` gives the children.
    """
    paths = ElementPath.objects.filter(ancestor_id__in=_ids(element_ids))
    if not include_self:
        paths = paths.filter(depth__gt=0)
    if max_depth is not None:
        paths = paths.filter(depth__lte=max_depth)
    return paths.values("descendant_id")


def ancestor_ids(element_ids, include_self=False, max_depth=None):
    """A subquery of the ids of the elements above any of `element_ids`."""
    paths = ElementPath.objects.filter(descendant_id__in=_ids(element_ids))
    if not include_self:
        paths = paths.filter(depth__gt=0)
    if max_depth is not None:
        paths = paths.filter(depth__lte=max_depth)
    return paths.values("ancestor_id")


def descendants(element_ids, include_self=False, max_depth=None):
    """Elements below any of `element_ids` (ids, elements or a QuerySet), each once."""
    return Element.objects.filter(
        id__in=descendant_ids(element_ids, include_self=include_self, max_depth=max_depth)
    )


def ancestors(element_ids, include_self=False, max_depth=None):
    """Elements above any of `element_ids` (ids, elements or a QuerySet), each once."""
    return Element.objects.filter(
        id__in=ancestor_ids(element_ids, include_self=include_self, max_depth=max_depth)
    )
