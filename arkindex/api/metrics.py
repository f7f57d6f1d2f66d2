"""Request counts and latencies by operationId and status, for `GET /metrics`."""

import time

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "arkindex_requests",
    "Requests answered, by operationId (`none` outside the API) and status code.",
    ["operation", "status"],
)
LATENCY = Histogram(
    "arkindex_request_duration_seconds",
    "Time to answer a request, by operationId and status code.",
    ["operation", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def operation_of(view_func, method):
    """The operationId that the schema gives this view and method, or `none`."""
    view_class = getattr(view_func, "cls", None)
    ids = getattr(view_class, "operation_ids", None) or {}
    return ids.get(method.lower(), "none")


class RequestMetricsMiddleware:
    """Count and time every request; the operation is known once the URL is resolved."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        request.metrics_operation = "none"
        response = self.get_response(request)
        labels = (request.metrics_operation, str(response.status_code))
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - start)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        request.metrics_operation = operation_of(view_func, request.method)
