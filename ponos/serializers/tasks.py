import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ponos.models import Agent, State, Task
from ponos.tasks import RESERVED_ENV, RESERVED_ENV_PREFIX, full_log_url, log_put_url, task_env

# The final states an agent reaches when the command of a task ended by itself.
EXIT_CODE_STATES = frozenset({State.COMPLETED, State.FAILED})

# Slugs name directories and links in the agents' data dirs: no '/', no leading dot.
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class TaskAgentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ["id", "hostname"]
        read_only_fields = fields


def parent_ids(task):
    # Prefetched by the views (only their ids): no query per task.
    return [parent.pk for parent in task.parents.all()]


class TaskSerializer(serializers.ModelSerializer):
    """A task, as task operations answer it: the RetrieveTask body without `logs`.

    Never the token: it is only given to the task itself, in its definition's env.
    """

    process_id = serializers.UUIDField(read_only=True)
    parents = serializers.SerializerMethodField()
    agent = TaskAgentSerializer(read_only=True, allow_null=True)
    gpu_id = serializers.SerializerMethodField(
        help_text="The agent's own id of the GPU the task is bound to."
    )
    worker_run_id = serializers.UUIDField(read_only=True, allow_null=True)
    original_task_id = serializers.UUIDField(read_only=True, allow_null=True)
    env = serializers.DictField(child=serializers.CharField(), read_only=True)
    full_log = serializers.SerializerMethodField(
        help_text="A signed URL of the whole log, or null when the task never reached an agent."
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "process_id",
            "run",
            "depth",
            "slug",
            "state",
            "parents",
            "image",
            "command",
            "env",
            "requires_gpu",
            "priority",
            "ttl",
            "shm_size",
            "agent",
            "gpu_id",
            "worker_run_id",
            "original_task_id",
            "exit_code",
            "expiry",
            "created",
            "updated",
            "started",
            "finished",
            "full_log",
        ]
        read_only_fields = fields

    def get_parents(self, task) -> list[str]:
        return [str(pk) for pk in parent_ids(task)]

    def get_gpu_id(self, task) -> str | None:
        return task.gpu.gpu_id if task.gpu_id else None

    def get_full_log(self, task) -> str | None:
        return full_log_url(task)


class TaskDetailSerializer(TaskSerializer):
    """RetrieveTask: the task with the tail of its log (read by the view, once)."""

    logs = serializers.SerializerMethodField(
        help_text="The last PONOS_LOG_TAIL bytes of the log, as text; empty when there is no "
        "log yet or the storage is unreachable."
    )

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "logs"]
        read_only_fields = fields

    def get_logs(self, task) -> str:
        return self.context["log_tail"][0]

    def get_full_log(self, task) -> str | None:
        # The log is known missing when its tail could not be found.
        if self.context["log_tail"][1] is False:
            return None
        return super().get_full_log(task)


class TaskStateSerializer(serializers.Serializer):
    """PartialUpdateTask's body: users send `stopping`, agents report what they did."""

    state = serializers.ChoiceField(choices=State.choices)
    exit_code = serializers.IntegerField(
        required=False,
        min_value=-(2**31),
        max_value=2**31 - 1,
        help_text="The exit code of the task's command, sent by its agent with the final "
        "state completed or failed.",
    )

    def validate(self, data):
        if "exit_code" in data and data["state"] not in EXIT_CODE_STATES:
            raise serializers.ValidationError(
                {
                    "exit_code": "An exit code comes with the final state completed or "
                    f"failed only, not with {data['state']}."
                }
            )
        return data


class TaskParentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "slug"]
        read_only_fields = fields


class TaskDefinitionSerializer(serializers.ModelSerializer):
    """What the holding agent needs to run a task; its env holds the task's token.

    `state` tells a restarted agent whether a task it finds still running on its host is
    still its own to finish (running or stopping) or was given up on meanwhile."""

    process_id = serializers.UUIDField(read_only=True)
    env = serializers.SerializerMethodField()
    gpu_id = serializers.SerializerMethodField()
    parents = TaskParentSerializer(many=True, read_only=True)
    s3_logs_put_url = serializers.SerializerMethodField(
        help_text="A signed PUT URL for the whole log (text/plain), fresh at each call; null "
        "once the task is finished, whose log can no longer change."
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "slug",
            "process_id",
            "run",
            "state",
            "image",
            "command",
            "env",
            "shm_size",
            "requires_gpu",
            "gpu_id",
            "ttl",
            "parents",
            "s3_logs_put_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_env(self, task):
        return task_env(task)

    def get_gpu_id(self, task) -> str | None:
        return task.gpu.gpu_id if task.gpu_id else None

    def get_s3_logs_put_url(self, task) -> str | None:
        # The agent uploads the last log before its final report: a finished task's log is
        # kept as it is.
        if not task.is_active:
            return None
        return log_put_url(task)


def validate_env(env):
    if "" in env:
        raise serializers.ValidationError("Variable names cannot be empty.")
    reserved = sorted(
        name for name in env if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIX)
    )
    if reserved:
        raise serializers.ValidationError(
            f"{', '.join(reserved)} cannot be set: the backend sets them when the task starts."
        )
    return env


class TaskCreateSerializer(serializers.Serializer):
    """CreateTask's body: a task added to the caller's own run."""

    process_id = serializers.UUIDField(help_text="The process of the calling task.")
    slug = serializers.CharField(max_length=250)
    image = serializers.CharField(max_length=250)
    command = serializers.CharField(required=False, allow_blank=True, default="")
    env = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
    parents = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=1000
    )
    requires_gpu = serializers.BooleanField(required=False, default=False)
    priority = serializers.IntegerField(
        required=False,
        min_value=-(2**31),
        max_value=2**31 - 1,
        help_text="At most the calling task's own priority, which is the default.",
    )
    ttl = serializers.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, help_text="Seconds; 0 = none."
    )
    shm_size = serializers.CharField(required=False, allow_null=True, default=None, max_length=80)

    def validate_slug(self, slug):
        if not SLUG_PATTERN.match(slug):
            raise serializers.ValidationError(
                "A slug is made of letters, digits, '_', '.' and '-', starting with a letter "
                "or a digit."
            )
        return slug

    def validate_env(self, env):
        return validate_env(env)

    def validate(self, data):
        data.setdefault("ttl", settings.PONOS_DEFAULT_TTL)
        return data
