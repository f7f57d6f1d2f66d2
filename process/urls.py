from django.urls import path

from process.api.workers import WorkerList, WorkerVersionDetail, WorkerVersionList

urlpatterns = [
    path("workers/", WorkerList.as_view(), name="worker-list"),
    path("workers/<uuid:id>/versions/", WorkerVersionList.as_view(), name="worker-versions"),
    path("workers/versions/<uuid:id>/", WorkerVersionDetail.as_view(), name="worker-version"),
]
