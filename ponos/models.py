import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from arkindex.corpora.models import Level


def generate_seed():
    return secrets.token_hex(32)


def generate_token():
    return secrets.token_urlsafe(32)


def hash_token(token):
    """Agent and task tokens are found by their SHA-256 digests: a leaked table gives no
    usable token, and a lookup by digest compares no secret in Python."""
    return hashlib.sha256(token.encode()).hexdigest()


# Task tokens are kept sealed: XORed with a keystream only the secret key gives.
TASK_TOKEN_PURPOSE = b"ponos.task-token:"
TASK_TOKEN_MAX_BYTES = 64


def _task_token_keystream(task_id):
    """64 bytes of HMAC-SHA512 of the secret key over the task's id: the same for one task
    at every call, different for every task, and unknown without the secret key."""
    return hmac.new(
        settings.SECRET_KEY.encode(), TASK_TOKEN_PURPOSE + task_id.bytes, hashlib.sha512
    ).digest()


def seal_task_token(task_id, token):
    """The stored form of a task's token (hex): the token XORed with the task's keystream.
    A token is random, so its mask is too; without the secret key a mask tells nothing."""
    raw = token.encode()
    if not 0 < len(raw) <= TASK_TOKEN_MAX_BYTES:
        raise ValueError(f"A task token has 1 to {TASK_TOKEN_MAX_BYTES} bytes.")
    stream = _task_token_keystream(task_id)
    return bytes(a ^ b for a, b in zip(raw, stream, strict=False)).hex()


def unseal_task_token(task_id, mask):
    """The token sealed in `mask` for this task, or None when it cannot be read back (the
    secret key changed since it was sealed)."""
    stream = _task_token_keystream(task_id)
    raw = bytes(a ^ b for a, b in zip(bytes.fromhex(mask), stream, strict=False))
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def default_task_expiry():
    return timezone.now() + timedelta(days=settings.PONOS_TASK_EXPIRY_DAYS)


class State(models.TextChoices):
    UNSCHEDULED = "unscheduled"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"
    STOPPING = "stopping"
    STOPPED = "stopped"


ACTIVE_STATES = frozenset({State.PENDING, State.RUNNING, State.STOPPING})
FINAL_STATES = frozenset(
    {State.COMPLETED, State.FAILED, State.ERROR, State.CANCELLED, State.STOPPED}
)


class Farm(models.Model):
    """A pool of agents; processes run on one farm. Agents join it with its secret seed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=250)
    seed = models.CharField(max_length=64, default=generate_seed)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class FarmMembership(models.Model):
    """A user's access level on a farm: guest lets them run processes on it."""

    farm = models.ForeignKey(Farm, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="farm_memberships"
    )
    level = models.PositiveSmallIntegerField(choices=Level.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["farm", "user"], name="unique_farm_membership")
        ]

    def __str__(self):
        return f"{self.user} on {self.farm}: {self.level}"


class Agent(models.Model):
    """A machine that polls for tasks of its farm and runs them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    farm = models.ForeignKey(Farm, on_delete=models.CASCADE, related_name="agents")
    hostname = models.CharField(max_length=250)
    enabled = models.BooleanField(default=True)
    token_hash = models.CharField(max_length=64, unique=True)
    cpu_cores = models.PositiveIntegerField()
    cpu_frequency = models.BigIntegerField(help_text="Hz")
    ram_total = models.BigIntegerField(help_text="bytes")
    cpu_load = models.FloatField(null=True, blank=True)
    ram_load = models.FloatField(null=True, blank=True)
    last_ping = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["farm", "hostname"]
        constraints = [
            models.UniqueConstraint(fields=["farm", "hostname"], name="unique_agent_hostname")
        ]

    def __str__(self):
        return self.hostname

    @property
    def active(self):
        if self.last_ping is None:
            return False
        return self.last_ping >= timezone.now() - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT)

    def status_at(self, since):
        """'disabled', 'active' (pinged at `since` or later) or 'inactive': as the agents
        page and the metrics show it."""
        if not self.enabled:
            return "disabled"
        if self.last_ping is not None and self.last_ping >= since:
            return "active"
        return "inactive"

    def set_token(self):
        """Give the agent a new token (revoking the old one) and return it in clear, once."""
        token = generate_token()
        self.token_hash = hash_token(token)
        return token


class GPU(models.Model):
    """A GPU of an agent; `gpu_id` is the agent's own identifier for it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="gpus")
    gpu_id = models.CharField(max_length=250)
    name = models.CharField(max_length=250)
    index = models.PositiveIntegerField()
    ram_total = models.BigIntegerField(help_text="bytes")

    class Meta:
        ordering = ["agent", "index"]
        constraints = [models.UniqueConstraint(fields=["agent", "gpu_id"], name="unique_agent_gpu")]

    def __str__(self):
        return f"{self.name} #{self.index}"


class TaskQuerySet(models.QuerySet):
    def active(self):
        return self.filter(state__in=ACTIVE_STATES)


class Task(models.Model):
    """One command of a process run, executed by an agent.

    `state` is only ever written by `ponos.states`; `process` is the process owning the
    task, and `run` the process run (0 for the first start, one more at each retry).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    process = models.ForeignKey("process.Process", on_delete=models.CASCADE, related_name="tasks")
    run = models.PositiveIntegerField()
    depth = models.PositiveIntegerField(default=0)
    slug = models.CharField(max_length=250)
    state = models.CharField(max_length=20, choices=State.choices, default=State.UNSCHEDULED)
    image = models.CharField(max_length=250)
    command = models.TextField(blank=True, default="")
    env = models.JSONField(default=dict, blank=True)
    parents = models.ManyToManyField("self", symmetrical=False, related_name="children", blank=True)
    requires_gpu = models.BooleanField(default=False)
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    gpu = models.ForeignKey(
        GPU, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    priority = models.IntegerField(default=10)
    shm_size = models.CharField(max_length=80, null=True, blank=True)
    ttl = models.PositiveIntegerField(default=0, help_text="seconds from start, 0 = none")
    # Set when the backend stops a task that outlived its ttl: its `stopped` lands as cancelled.
    ttl_exceeded = models.BooleanField(default=False)
    worker_run = models.ForeignKey(
        "process.WorkerRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
    )
    original_task = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="restarts"
    )
    # The 1-based chunk of the process this task works on, when the process has chunks > 1
    # (given to the task as ARKINDEX_TASK_CHUNK); slugs cannot tell it reliably once restarted.
    chunk = models.PositiveSmallIntegerField(null=True, blank=True)
    # The exit code of the task's command, as its agent reported it with the final state
    # (completed or failed); null when no agent reported one.
    exit_code = models.IntegerField(null=True, blank=True)
    # The token of the code running in the task (`Authorization: Ponos <token>`): sealed
    # with the secret key (see `token`), and found by the SHA-256 digest of the token.
    token_mask = models.CharField(max_length=2 * TASK_TOKEN_MAX_BYTES, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expiry = models.DateTimeField(default=default_task_expiry)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["process", "run", "depth", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["process", "run", "slug"], name="unique_task_slug_per_run"
            )
        ]
        indexes = [
            # Assignment: pending unheld tasks by priority, then age.
            models.Index(
                fields=["-priority", "created"],
                name="task_pending_queue_idx",
                condition=models.Q(state="pending", agent__isnull=True),
            ),
            # Active tasks held by an agent (capacity, announcements, dead-agent rule). Only
            # active tasks: finished ones keep their agent, and would otherwise grow the
            # index, and every poll's walk of it, with the whole history of the farm.
            models.Index(
                fields=["agent", "state"],
                name="task_active_agent_idx",
                condition=models.Q(agent__isnull=False, state__in=sorted(ACTIVE_STATES)),
            ),
            # Cleanup finds the processes of expired tasks and checks that none of their tasks
            # is still live, both from this index alone (without reading the task rows).
            models.Index(fields=["process", "expiry"], name="task_process_expiry_idx"),
            # The metrics count the live tasks of each farm and find the oldest pending one
            # from this index alone; finished tasks, the bulk of the table, are not in it.
            models.Index(
                fields=["state", "process", "created"],
                name="task_live_state_idx",
                condition=models.Q(state__in=sorted(ACTIVE_STATES | {State.UNSCHEDULED})),
            ),
            # Pending tasks an agent claimed, by process: the only task change made without
            # the process lock. Their count versions RetrieveProcess with the revision.
            models.Index(
                fields=["process"],
                name="task_claimed_idx",
                condition=models.Q(state="pending", agent__isnull=False),
            ),
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A new task gets its token. Rows read from the database come positionally (and
        # have theirs); a task built with `token=` or a stored `token_hash` keeps that.
        if not args and "token" not in kwargs and "token_hash" not in kwargs:
            self.token = generate_token()

    def __str__(self):
        return self.slug

    @property
    def is_active(self):
        return self.state in ACTIVE_STATES

    @property
    def token(self):
        """The task's token in clear, unsealed with the secret key; None when it cannot be
        (the secret key changed since the task was created)."""
        token = unseal_task_token(self.id, self.token_mask)
        if token is None or not hmac.compare_digest(hash_token(token), self.token_hash):
            return None
        return token

    @token.setter
    def token(self, token):
        self.token_mask = seal_task_token(self.id, token)
        self.token_hash = hash_token(token)


class Artifact(models.Model):
    """A file a task produced, stored under `<task id>/<path>` in the artifacts bucket."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=512)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=250, default="application/octet-stream")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task", "path"]
        constraints = [
            models.UniqueConstraint(fields=["task", "path"], name="unique_artifact_path")
        ]

    def __str__(self):
        return self.path


class LogPiece(models.Model):
    """A piece of the log of an active task, stored at `<task id>.log.d/<offset>` in the logs
    bucket until the task ends and its pieces are assembled into `<task id>.log`.

    The row is written when the holding agent asks for the piece's upload URL: it lets the
    log's tail be read from the last pieces without listing the bucket. Its object may be
    missing (an upload that failed); the listing of the bucket is what assembly trusts.
    """

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="log_pieces")
    offset = models.BigIntegerField()
    size = models.BigIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "offset"], name="unique_log_piece_offset")
        ]

    def __str__(self):
        return f"{self.task_id}+{self.offset}"
