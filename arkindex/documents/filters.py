"""Query filters of the element and transcription lists, named as base-worker sends them.

The Arkindex client refuses to send an undeclared query parameter, so every parameter of
base-worker's `list_elements`, `list_element_children`, `list_element_parents` and
`list_transcriptions` is declared here, the `with_*` ones included (they choose which
optional fields the items carry).
"""

import uuid

import django_filters
from django import forms
from django.db.models import Exists, OuterRef
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from arkindex.api.filters import StrictBooleanFilter
from arkindex.documents.models import Element, ElementPath, Transcription


class IdOrFalseField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).strip().lower() == "false":
            return False
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise forms.ValidationError(
                "%(value)r is neither an id nor false.", code="invalid", params={"value": value}
            ) from None


@extend_schema_field(OpenApiTypes.STR)
class IdOrFalseFilter(django_filters.Filter):
    """An id, or `false` (any case) for "none": `worker_run=false` keeps what users made."""

    field_class = IdOrFalseField

    def __init__(self, field_name, **kwargs):
        self.id_field = field_name
        self.null_field = kwargs.pop("null_field", None)
        super().__init__(field_name=field_name, **kwargs)

    def filter(self, queryset, value):
        if value is None:
            return queryset
        if value is False:
            return queryset.filter(**{f"{self.null_field}__isnull": True})
        return queryset.filter(**{self.id_field: value})


def flag(help_text):
    """A `with_*` parameter: read by the view, it filters nothing."""
    return StrictBooleanFilter(method="keep", help_text=help_text)


def has_transcription(**conditions):
    return Exists(Transcription.objects.filter(element_id=OuterRef("pk"), **conditions))


class CachedFormMixin:
    # The form validating the parameters depends on the declared filters alone: its class
    # is built once, not on every request.
    _form_class = None

    def get_form_class(self):
        cls = type(self)
        if cls.__dict__.get("_form_class") is None:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def keep(self, queryset, name, value):
        return queryset


class ElementFilter(CachedFormMixin, filters.FilterSet):
    folder = StrictBooleanFilter(
        field_name="type__folder", help_text="true: only elements of folder types; false: none."
    )
    name = django_filters.CharFilter(
        lookup_expr="icontains", help_text="Elements whose name contains this (any case)."
    )
    top_level = StrictBooleanFilter(
        method="filter_top_level",
        help_text="true: only elements without a parent; false: only those with one.",
    )
    type = django_filters.CharFilter(field_name="type__slug", help_text="A type's slug.")
    worker_run = IdOrFalseFilter(
        "worker_run_id",
        null_field="worker_run",
        help_text="Elements created by this worker run; false: those created by users.",
    )
    worker_version = IdOrFalseFilter(
        "worker_run__version_id",
        null_field="worker_run",
        help_text="Elements created by a run of this worker version; false: by users.",
    )
    transcription_worker_run = IdOrFalseFilter(
        "transcription_worker_run",
        method="filter_transcription_worker_run",
        help_text="Elements with a transcription by this worker run; false: by a user.",
    )
    transcription_worker_version = IdOrFalseFilter(
        "transcription_worker_version",
        method="filter_transcription_worker_version",
        help_text="Elements with a transcription by a run of this worker version; false: "
        "by a user.",
    )
    with_corpus = flag("Add each element's `corpus`.")
    with_zone = flag("Add each element's `zone` (always null: no images here).")
    with_has_children = flag("Add `has_children`, whether the element has children.")
    with_classes = flag("Add `classes` (always empty: no classifications here).")
    with_metadata = flag("Add `metadata` (always empty: no metadata here).")

    class Meta:
        model = Element
        fields = []

    def filter_top_level(self, queryset, name, value):
        if value is None:
            return queryset
        has_parent = Exists(ElementPath.objects.filter(descendant_id=OuterRef("pk"), depth=1))
        return queryset.filter(~has_parent if value else has_parent)

    def filter_transcription_worker_run(self, queryset, name, value):
        if value is None:
            return queryset
        if value is False:
            return queryset.filter(has_transcription(worker_run__isnull=True))
        return queryset.filter(has_transcription(worker_run_id=value))

    def filter_transcription_worker_version(self, queryset, name, value):
        if value is None:
            return queryset
        if value is False:
            return queryset.filter(has_transcription(worker_run__isnull=True))
        return queryset.filter(has_transcription(worker_run__version_id=value))


class ElementRelativesFilter(ElementFilter):
    recursive = flag("true: at any depth; false (default): the direct ones only.")


class TranscriptionFilter(CachedFormMixin, filters.FilterSet):
    element_type = django_filters.CharFilter(
        field_name="element__type__slug",
        help_text="Transcriptions of elements of this type (its slug).",
    )
    recursive = flag(
        "true: the transcriptions of the element and of all its descendants; false "
        "(default): the element's own."
    )
    worker_run = IdOrFalseFilter(
        "worker_run_id",
        null_field="worker_run",
        help_text="Transcriptions written by this worker run; false: those written by users.",
    )
    worker_version = IdOrFalseFilter(
        "worker_run__version_id",
        null_field="worker_run",
        help_text="Transcriptions written by a run of this worker version; false: by users.",
    )

    class Meta:
        model = Transcription
        fields = []
