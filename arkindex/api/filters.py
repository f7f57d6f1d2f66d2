import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

BOOLEAN_VALUES = {"true": True, "1": True, "false": False, "0": False}


def parse_bool(value):
    """Parse a query-string boolean (true/false/1/0, any case); None for anything else."""
    return BOOLEAN_VALUES.get(str(value).strip().lower())


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        parsed = parse_bool(value)
        if parsed is None:
            # The value goes in `params`: django-filter formats the message with them, and
            # a '%' of the value in the message itself would break that formatting (a 500).
            raise forms.ValidationError(
                "%(value)r is not a boolean: use true, false, 1 or 0.",
                code="invalid",
                params={"value": value},
            )
        return parsed


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    """A boolean filter that refuses junk instead of silently ignoring itself."""

    field_class = StrictBooleanField
