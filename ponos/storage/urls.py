"""Signed URLs of the local storage backend, mounted under ``storage/`` by the root URLs."""

from django.urls import path

from ponos.storage.views import object_view

urlpatterns = [
    # Keys contain slashes: the path converter takes the rest of the URL
    path("<str:bucket>/<path:key>", object_view, name="storage-object"),
]
