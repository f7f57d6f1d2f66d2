import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from ponos.models import State


class ProcessMode(models.TextChoices):
    WORKERS = "workers"
    REPOSITORY = "repository"
    TEMPLATE = "template"
    LOCAL = "local"


# Modes that never run: they hold configuration only.
NON_RUNNABLE_MODES = frozenset({ProcessMode.TEMPLATE, ProcessMode.LOCAL})
# Modes without a corpus.
CORPUSLESS_MODES = frozenset({ProcessMode.REPOSITORY, ProcessMode.LOCAL})


class ActivityState(models.TextChoices):
    """Where the worker activities of a process's last run stand (SPEC §11)."""

    # Started or retried with `worker_activity: false`: workers get no activities.
    DISABLED = "disabled"
    # The background job creating the activities has not finished yet.
    PENDING = "pending"
    READY = "ready"
    # The background job failed: the run's tasks never start.
    ERROR = "error"


class ProcessQuerySet(models.QuerySet):
    def readable_by(self, user):
        from arkindex.rights import readable_processes

        return self.filter(readable_processes(user))


class Process(models.Model):
    """A DAG of tasks run on a farm: it owns its farm, its dates and its tasks.

    `state` is the summary of the tasks of its last run (`last_run`), kept up to date by
    `ponos.states`, the only writer of task states; it is kept when cleanup removes tasks.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=250, blank=True, default="")
    mode = models.CharField(max_length=20, choices=ProcessMode.choices)
    corpus = models.ForeignKey(
        "corpora.Corpus",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="processes",
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="processes"
    )
    farm = models.ForeignKey(
        "ponos.Farm", on_delete=models.PROTECT, null=True, blank=True, related_name="processes"
    )
    chunks = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    use_gpu = models.BooleanField(default=False)
    # The selection of a workers process (see process.selection): `element` alone, or with
    # its descendants (`load_children`); without `element`, every element of the corpus.
    # Both filters apply to what is selected.
    element = models.ForeignKey(
        "documents.Element", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    load_children = models.BooleanField(default=False)
    element_type = models.ForeignKey(
        "documents.ElementType",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    name_contains = models.CharField(max_length=250, blank=True, default="")
    repository_url = models.URLField(max_length=500, null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.UNSCHEDULED)
    # The highest run ever built (null before the first start); cleanup never lowers it.
    last_run = models.PositiveIntegerField(null=True, blank=True)
    activity_state = models.CharField(
        max_length=20, choices=ActivityState.choices, default=ActivityState.DISABLED
    )
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # One more at every change of the process or of its tasks made under the process lock
    # (see ponos.states.lock_process): with the count of claimed tasks, it versions the
    # RetrieveProcess body for conditional requests.
    revision = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)

    objects = ProcessQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "processes"
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["-created", "-id"], name="process_newest_idx"),
            models.Index(fields=["state", "-created"], name="process_state_idx"),
            models.Index(fields=["creator", "-created"], name="process_creator_idx"),
            models.Index(fields=["corpus", "-created"], name="process_corpus_idx"),
            # ListProcesses counts the processes a user may read: the rights filter reads
            # these two columns only, so the count is an index-only scan of this narrow
            # index rather than a scan of the table.
            models.Index(fields=["corpus", "creator"], name="process_rights_idx"),
        ]

    def __str__(self):
        return self.name or str(self.id)


class Worker(models.Model):
    """A program that can run on a corpus; its versions are the runnable images."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=250)
    slug = models.SlugField(max_length=100, unique=True)
    type = models.CharField(max_length=100)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class GPUUsage(models.TextChoices):
    DISABLED = "disabled"
    SUPPORTED = "supported"
    REQUIRED = "required"


class VersionState(models.TextChoices):
    CREATED = "created"
    AVAILABLE = "available"
    ERROR = "error"


class WorkerVersion(models.Model):
    """A numbered version of a worker: the image and command its tasks run."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    docker_image = models.CharField(max_length=250)
    command = models.TextField(blank=True, default="")
    gpu_usage = models.CharField(max_length=20, choices=GPUUsage.choices, default=GPUUsage.DISABLED)
    configuration = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=20, choices=VersionState.choices, default=VersionState.AVAILABLE
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["worker", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["worker", "version"], name="unique_worker_version")
        ]

    def __str__(self):
        return f"{self.worker} v{self.version}"


class WorkerRun(models.Model):
    """A worker version configured to run in a process, after its parent worker runs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="worker_runs")
    version = models.ForeignKey(WorkerVersion, on_delete=models.PROTECT, related_name="runs")
    parents = models.ManyToManyField("self", symmetrical=False, related_name="children", blank=True)
    configuration = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["process", "created", "id"]

    def __str__(self):
        return f"{self.version} in {self.process_id}"


class WorkerActivityState(models.TextChoices):
    QUEUED = "queued"
    STARTED = "started"
    PROCESSED = "processed"
    ERROR = "error"


class WorkerActivity(models.Model):
    """One selected element for one worker run of a process: whether it was processed.

    Created by `process.jobs.create_activities` at start and retry, claimed by the run's
    task of the same `chunk` (StartWorkerActivity), reported on by the worker
    (UpdateWorkerActivity). Chunk k of every worker run gets the same elements.
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed by activity_counts, which leads with it.
    process = models.ForeignKey(
        Process, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    # Indexed by the unique (worker_run, element) constraint.
    worker_run = models.ForeignKey(
        WorkerRun, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    element = models.ForeignKey("documents.Element", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(
        max_length=20, choices=WorkerActivityState.choices, default=WorkerActivityState.QUEUED
    )
    chunk = models.PositiveSmallIntegerField(default=1)
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        verbose_name_plural = "worker activities"
        constraints = [
            models.UniqueConstraint(fields=["worker_run", "element"], name="unique_worker_activity")
        ]
        indexes = [
            # ListProcessActivityCounts groups a process's activities by run and state
            # from this index alone; retries find what was not processed through it too.
            models.Index(fields=["process", "worker_run", "state"], name="activity_counts"),
            # StartWorkerActivity: the queued activities of a run's chunk, oldest first.
            # Claimed ones leave the index, so a claim never walks past them.
            models.Index(
                fields=["worker_run", "chunk", "id"],
                name="activity_queue",
                condition=models.Q(state="queued"),
            ),
        ]

    def __str__(self):
        return f"{self.element_id} for {self.worker_run_id}: {self.state}"
