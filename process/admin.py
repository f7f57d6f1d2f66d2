from django import forms
from django.contrib import admin
from django.db import models, transaction

from ponos.states import lock_process
from process.models import Process, Worker, WorkerActivity, WorkerRun, WorkerVersion


class WorkerRunInline(admin.TabularInline):
    model = WorkerRun
    extra = 0
    raw_id_fields = ["version"]
    exclude = ["parents"]


@admin.register(Process)
class ProcessAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "mode", "state", "corpus", "creator", "farm", "created"]
    list_filter = ["mode", "state"]
    search_fields = ["name", "id"]
    raw_id_fields = ["corpus", "creator", "farm"]
    # The state is a summary kept by the task state machine.
    readonly_fields = ["state", "last_run", "started", "finished"]
    inlines = [WorkerRunInline]
    # Scheme-less repository URLs are read as https, as Django 6 will by default.
    formfield_overrides = {
        models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"},
    }

    def save_model(self, request, obj, form, change):
        # Under the process lock, which counts the edit in the revision (the ETag of
        # RetrieveProcess); the form then writes the row with that revision.
        with transaction.atomic():
            if change:
                obj.revision = lock_process(obj.pk).revision
            super().save_model(request, obj, form, change)


class WorkerVersionInline(admin.TabularInline):
    model = WorkerVersion
    extra = 0
    readonly_fields = ["version"]

    def has_add_permission(self, request, obj=None):
        # Versions are numbered by CreateWorkerVersion, under a lock of the worker.
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "type"]
    search_fields = ["slug", "name"]
    inlines = [WorkerVersionInline]


@admin.register(WorkerVersion)
class WorkerVersionAdmin(admin.ModelAdmin):
    list_display = ["worker", "version", "docker_image", "gpu_usage", "state"]
    list_filter = ["state", "gpu_usage"]
    readonly_fields = ["version"]

    def has_add_permission(self, request):
        # Versions are numbered by CreateWorkerVersion, under a lock of the worker.
        return False


@admin.register(WorkerRun)
class WorkerRunAdmin(admin.ModelAdmin):
    list_display = ["id", "process", "version", "created"]
    raw_id_fields = ["process", "version", "parents"]


@admin.register(WorkerActivity)
class WorkerActivityAdmin(admin.ModelAdmin):
    """Activities count in millions: the list is filtered by state, searched by exact ids
    only, never counted twice, and no select box ever lists processes, runs or elements."""

    list_display = ["id", "process", "worker_run", "element", "state", "chunk", "updated"]
    list_filter = ["state"]
    list_select_related = ["process", "worker_run__version__worker", "element"]
    search_fields = ["=process__id", "=worker_run__id", "=element__id"]
    raw_id_fields = ["process", "worker_run", "element"]
    show_full_result_count = False
    # Activities are created by their process's start or retry, not by hand.
    readonly_fields = ["process", "worker_run", "element", "chunk", "created", "updated"]

    def has_add_permission(self, request):
        return False
