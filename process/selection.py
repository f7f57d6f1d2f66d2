"""The elements a workers process works on (SPEC §11).

`element` alone, or `element` and its descendants at any depth (`load_children`); without
`element`, every element of the process's corpus. `element_type` and `name_contains` filter
what is selected. Descendants come from the closure table of `arkindex.documents` in one
indexed lookup, so the query is the same whatever the depth.
"""

from rest_framework.exceptions import ValidationError

from arkindex.documents.models import Element, ElementType
from arkindex.documents.queries import descendant_ids


def selected_elements(process):
    """A QuerySet of the elements `process` selects (no ordering: callers choose)."""
    elements = Element.objects.filter(corpus_id=process.corpus_id)
    if process.element_id is not None:
        if process.load_children:
            elements = elements.filter(
                id__in=descendant_ids([process.element_id], include_self=True)
            )
        else:
            elements = elements.filter(id=process.element_id)
    if process.element_type_id is not None:
        elements = elements.filter(type_id=process.element_type_id)
    if process.name_contains:
        elements = elements.filter(name__icontains=process.name_contains)
    return elements.order_by()


# The fields of the selection, set by CreateProcess and PartialUpdateProcess until start.
SELECTION_FIELDS = ("element", "load_children", "element_type", "name_contains")


def resolve_selection(corpus_id, mode, data):
    """Turn the selection fields of a body (`element` id, `element_type` slug) into rows of
    the process's corpus, in place; a 400 naming the field when one is not there."""
    from process.models import ProcessMode

    given = [name for name in SELECTION_FIELDS if name in data]
    if given and mode != ProcessMode.WORKERS:
        raise ValidationError(
            {name: [f"Only workers processes select elements, not {mode} ones."] for name in given}
        )
    errors = {}
    if data.get("element") is not None:
        element = Element.objects.filter(corpus_id=corpus_id, pk=data["element"]).first()
        if element is None:
            errors["element"] = [
                f"No element of the process's corpus has the id {data['element']}: see "
                "ListElements."
            ]
        data["element"] = element
    if data.get("element_type"):
        element_type = ElementType.objects.filter(
            corpus_id=corpus_id, slug=data["element_type"]
        ).first()
        if element_type is None:
            errors["element_type"] = [
                f"The process's corpus has no element type {data['element_type']!r}: "
                "RetrieveCorpus lists its types."
            ]
        data["element_type"] = element_type
    elif "element_type" in data:
        data["element_type"] = None
    if errors:
        raise ValidationError(errors)
    return data
