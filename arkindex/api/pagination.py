from rest_framework import pagination


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
