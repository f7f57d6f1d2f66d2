from django.core.paginator import InvalidPage
from rest_framework import pagination
from rest_framework.exceptions import NotFound


class PageNumberPagination(pagination.PageNumberPagination):
    """Page-number pagination: `page`, `page_size` (≤ 500, default 20), and a `count`."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        # A junk or out-of-range page size is an error, not a silent default: clients
        # paginating with a stable page size rely on it.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            from arkindex.api.errors import validation_error

            raise validation_error(
                "page_size", f"page_size must be an integer from 1 to {self.max_page_size}."
            )
        return size

    def paginate_queryset(self, queryset, request, view=None, rows=None):
        """The items of the requested page.

        `rows`, when given, turns the page's slice of `queryset` into the items (say, a
        `values()` with columns of related tables): the count then runs on `queryset` as
        it is, without the joins that only the items need.
        """
        if rows is None:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            raise NotFound(
                self.invalid_page_message.format(page_number=page_number, message=str(exc))
            ) from exc
        self.page.object_list = list(rows(self.page.object_list))
        return self.page.object_list
