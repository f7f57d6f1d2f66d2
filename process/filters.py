"""Query filters of ListProcesses; each one is declared in the schema by django-filter."""

import django_filters
from django.db.models import Exists, OuterRef
from django_filters import rest_framework as filters

from arkindex.api.filters import StrictBooleanFilter
from ponos.models import State, Task
from process.models import Process, ProcessMode


class ProcessFilter(filters.FilterSet):
    corpus = filters.UUIDFilter(field_name="corpus_id", help_text="Processes of this corpus.")
    mode = filters.ChoiceFilter(choices=ProcessMode.choices)
    # The stored summary column, indexed with the creation date (process_state_idx).
    state = filters.ChoiceFilter(
        choices=State.choices, help_text="Processes whose state (SPEC §5) is this one."
    )
    name = django_filters.CharFilter(
        lookup_expr="icontains", help_text="Processes whose name contains this (any case)."
    )
    created = StrictBooleanFilter(
        method="filter_created",
        help_text="true: only the processes you created; false: only the others.",
    )
    with_tasks = StrictBooleanFilter(
        method="filter_with_tasks",
        help_text="true: only processes that have tasks; false: only those that have none.",
    )

    class Meta:
        model = Process
        fields = ["corpus", "mode", "state", "name", "created", "with_tasks"]

    # The form validating the parameters depends on the declared filters alone: its class
    # is built once, not on every request of this polled list.
    _form_class = None

    def get_form_class(self):
        cls = type(self)
        if cls._form_class is None:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_created(self, queryset, name, value):
        if value is None:
            return queryset
        mine = {"creator_id": self.request.user.pk}
        return queryset.filter(**mine) if value else queryset.exclude(**mine)

    def filter_with_tasks(self, queryset, name, value):
        if value is None:
            return queryset
        # A semi-join on the task table's process index: no row count, no duplicates.
        has_tasks = Exists(Task.objects.filter(process_id=OuterRef("pk")))
        return queryset.filter(has_tasks if value else ~has_tasks)
