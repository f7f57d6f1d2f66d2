from django.contrib import admin, messages
from django.db import transaction

from ponos import states
from ponos.farms import regenerate_seed
from ponos.models import GPU, Agent, Artifact, Farm, FarmMembership, LogPiece, Task


class FarmMembershipInline(admin.TabularInline):
    model = FarmMembership
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Farm)
class FarmAdmin(admin.ModelAdmin):
    list_display = ["name", "id"]
    search_fields = ["name"]
    # The seed is a secret: never displayed, only regenerated.
    exclude = ["seed"]
    inlines = [FarmMembershipInline]
    actions = ["regenerate_seed"]

    @admin.action(
        description="Regenerate the seed (revokes the farm's agents: they must register "
        "with the new seed)"
    )
    def regenerate_seed(self, request, queryset):
        # The message is the one place that issues the new seed, like create_farm's output.
        for farm_id in queryset.values_list("pk", flat=True):
            farm, agents, tasks = regenerate_seed(farm_id)
            self.message_user(
                request,
                f"New seed of {farm.name}: {farm.seed} ({agents} agent(s) revoked, "
                f"{tasks} task(s) they held released)",
                messages.SUCCESS,
            )


class GPUInline(admin.TabularInline):
    model = GPU
    extra = 0
    readonly_fields = ["gpu_id", "name", "index", "ram_total"]

    def has_add_permission(self, request, obj=None):
        # Agents declare their GPUs when they register.
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["hostname", "farm", "enabled", "cpu_cores", "cpu_load", "ram_load", "last_ping"]
    list_filter = ["enabled", "farm"]
    list_editable = ["enabled"]
    search_fields = ["hostname"]
    exclude = ["token_hash"]
    readonly_fields = ["cpu_load", "ram_load", "last_ping"]
    inlines = [GPUInline]
    actions = ["disable", "enable"]

    def has_add_permission(self, request):
        # Agents register themselves with the farm seed (CreateAgent), which issues their
        # token; an agent added here would have none.
        return False

    @admin.action(description="Disable: the agent gets no new task")
    def disable(self, request, queryset):
        queryset.update(enabled=False)

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        queryset.update(enabled=True)


class ArtifactInline(admin.TabularInline):
    model = Artifact
    extra = 0
    readonly_fields = ["path", "size", "content_type", "created"]

    def has_add_permission(self, request, obj=None):
        return False


class LogPieceInline(admin.TabularInline):
    """Pieces of the log of an active task, until they are assembled (read only)."""

    model = LogPiece
    extra = 0
    readonly_fields = ["offset", "size", "created"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["slug", "process", "run", "state", "agent", "created"]
    list_filter = ["state", "requires_gpu"]
    search_fields = ["slug", "id"]
    # State changes go through the API and the state machine, never through a form. The
    # token's sealed form and digest are not editable, hence never shown.
    exclude = ["parents"]
    readonly_fields = ["state", "process", "agent", "gpu", "worker_run", "original_task"]
    inlines = [ArtifactInline, LogPieceInline]

    def has_add_permission(self, request):
        # Tasks come from the run builder and CreateTask, with a process and a token.
        return False

    # An edit is a change of the task's process: made under its lock, which counts it in
    # the process revision (the ETag of RetrieveProcess), before the task row is written.
    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            states.lock_process(obj.process_id)
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        with transaction.atomic():
            states.lock_process(obj.process_id)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            states.lock_processes(queryset.order_by().values("process_id"))
            super().delete_queryset(request, queryset)


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["path", "task", "size", "content_type", "created"]
    search_fields = ["path"]
    raw_id_fields = ["task"]
