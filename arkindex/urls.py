from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from arkindex.health import health
from ponos.metrics import metrics

api_patterns = [
    path("openapi/", SpectacularAPIView.as_view(), name="openapi"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("", include("arkindex.users.urls")),
    path("", include("arkindex.corpora.urls")),
    path("", include("arkindex.documents.urls")),
    path("", include("ponos.urls")),
    path("", include("process.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_patterns)),
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("storage/", include("ponos.storage.urls")),
    path("admin/", admin.site.urls),
    path("ui/", include("pages.urls")),
    path("", RedirectView.as_view(url="/ui/", permanent=False), name="root"),
]

# Errors raised outside DRF views answer in the API's error format too.
handler400 = "arkindex.api.errors.handler400"
handler403 = "arkindex.api.errors.handler403"
handler404 = "arkindex.api.errors.handler404"
handler500 = "arkindex.api.errors.handler500"
