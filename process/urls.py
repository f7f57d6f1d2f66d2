from django.urls import path

from process.api.activities import (
    ProcessActivityCounts,
    WorkerActivityStart,
    WorkerActivityUpdate,
)
from process.api.processes import ProcessDetail, ProcessList, ProcessRetry, ProcessStart
from process.api.selection import ProcessElementList
from process.api.worker_runs import WorkerRunConfiguration, WorkerRunDetail, WorkerRunList
from process.api.workers import WorkerList, WorkerVersionDetail, WorkerVersionList

urlpatterns = [
    path("process/", ProcessList.as_view(), name="process-list"),
    path("process/start-activity/", WorkerActivityStart.as_view(), name="start-activity"),
    path(
        "process/workers/<uuid:id>/activity/",
        WorkerActivityUpdate.as_view(),
        name="worker-run-activity",
    ),
    path(
        "process/<uuid:id>/activity-counts/",
        ProcessActivityCounts.as_view(),
        name="process-activity-counts",
    ),
    path("process/workers/<uuid:id>/", WorkerRunDetail.as_view(), name="worker-run"),
    path(
        "process/workers/<uuid:id>/configuration/",
        WorkerRunConfiguration.as_view(),
        name="worker-run-configuration",
    ),
    path("process/<uuid:id>/", ProcessDetail.as_view(), name="process"),
    path("process/<uuid:id>/start/", ProcessStart.as_view(), name="process-start"),
    path("process/<uuid:id>/retry/", ProcessRetry.as_view(), name="process-retry"),
    path("process/<uuid:id>/elements/", ProcessElementList.as_view(), name="process-elements"),
    path("process/<uuid:id>/workers/", WorkerRunList.as_view(), name="worker-runs"),
    path("workers/", WorkerList.as_view(), name="worker-list"),
    path("workers/<uuid:id>/versions/", WorkerVersionList.as_view(), name="worker-versions"),
    path("workers/versions/<uuid:id>/", WorkerVersionDetail.as_view(), name="worker-version"),
]
