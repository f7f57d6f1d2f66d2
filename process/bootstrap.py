"""A ready-to-use installation: the first superuser, a default farm, and a demo that runs.

Every function finds what an earlier call created and reuses it, so `manage.py bootstrap`
can run at every start of `make run`. Objects are found by their names (the demo process by
its name, corpus and creator): renaming one makes the next bootstrap create it again.
"""

import dataclasses
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.documents.elements import create_element, create_elements
from arkindex.documents.models import Element, ElementType
from arkindex.users.models import User
from arkindex.users.tokens import issue_token, token_authenticates
from ponos.farms import create_farm
from ponos.models import Farm
from process.builder import start_process
from process.models import Process, ProcessMode, Worker, WorkerVersion
from process.worker_runs import create_worker_run
from process.workers import create_worker_version

DEFAULT_EMAIL = "admin@localhost"
DEFAULT_FARM_NAME = "Local farm"
DEMO_CORPUS_NAME = "Demo corpus"
DEMO_WORKER_SLUG = "demo"
# The image is only recorded by the reference agent; a container-based agent would find sh
# and python3 in it.
DEMO_IMAGE = "python:3-slim"

# The demo worker's versions, by role. The agent runs each command through `/bin/sh -c` in
# the task's directory, PONOS_DATA, where `current/` holds the files to upload as artifacts
# and `<parent slug>` links to each parent's downloaded artifacts.
WRITE_COMMAND = """\
echo "Writing an artifact for the tasks that depend on this one"
printf 'Hello from task %s of process %s\\n' "$PONOS_TASK" "$ARKINDEX_PROCESS_ID" \\
  > "$PONOS_DATA/current/greeting.txt"
"""
READ_COMMAND = """\
python3 - <<'EOF'
import os
from pathlib import Path

data = Path(os.environ["PONOS_DATA"])
# The agent links the artifacts of each parent task as $PONOS_DATA/<parent slug>
parents = sorted(path for path in data.iterdir() if path.is_symlink())
files = [file for parent in parents for file in sorted(parent.rglob("*")) if file.is_file()]
if not files:
    raise SystemExit("No artifact from a parent task")
for file in files:
    print(f"Read {file.relative_to(data)}: {file.read_text().strip()}")
EOF
"""
FAIL_COMMAND = """\
echo "This task fails on purpose: its children stay unscheduled" >&2
exit 1
"""
# A worker consuming worker activities with plain HTTP (`requests`, which the project's
# Python has): it claims the pages of its chunk one by one, reads each, writes a
# transcription, and reports it processed, as arkindex-base-worker would.
ACTIVITIES_COMMAND = """\
python3 - <<'EOF'
import os

import requests

api = os.environ["ARKINDEX_API_URL"].rstrip("/") + "/api/v1/"
run, process = os.environ["ARKINDEX_WORKER_RUN_ID"], os.environ["ARKINDEX_PROCESS_ID"]
session = requests.Session()
session.headers["Authorization"] = "Ponos " + os.environ["ARKINDEX_TASK_TOKEN"]
done = 0
while True:
    claim = session.post(api + "process/start-activity/", timeout=30)
    if claim.status_code in (400, 404):  # nothing left in this chunk
        break
    claim.raise_for_status()
    element = session.get(api + "element/" + claim.json()["id"] + "/", timeout=30).json()
    session.post(
        api + "element/" + element["id"] + "/transcription/",
        json={"text": "Read " + element["name"], "worker_run_id": run, "confidence": 1.0},
        timeout=30,
    ).raise_for_status()
    session.put(
        api + "process/workers/" + run + "/activity/",
        json={"element_id": element["id"], "process_id": process, "state": "processed"},
        timeout=30,
    ).raise_for_status()
    done += 1
    print("Processed " + element["name"])
print(str(done) + " elements processed")
if not done:
    raise SystemExit("No element to process")
EOF
"""
DEMO_VERSIONS = {
    "write": ("writes an artifact", WRITE_COMMAND),
    "read": ("reads its parents' artifacts", READ_COMMAND),
    "fail": ("fails on purpose", FAIL_COMMAND),
    "activities": ("transcribes the pages of its worker activities", ACTIVITIES_COMMAND),
}
# The demo processes: worker runs in creation order, as (role, roles of its parents).
DEMO_PROCESSES = {
    "Demo process": [("write", []), ("read", ["write"])],
    "Demo process with a failure": [("write", []), ("fail", ["write"]), ("read", ["fail"])],
    "Demo process with worker activities": [("activities", [])],
}
# The process working on the demo folder's pages, with worker activities, in two chunks.
ACTIVITIES_PROCESS = "Demo process with worker activities"
DEMO_FOLDER_NAME = "Demo folder"
DEMO_PAGES = 12


@dataclasses.dataclass
class Found:
    """An object and whether this call created it."""

    obj: object
    created: bool

    @property
    def verb(self):
        return "created" if self.created else "reused"


def write_private_file(path, content):
    """Write a file only its owner can read (it holds a secret)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    # An existing file keeps its mode through O_CREAT: make sure of it
    path.chmod(0o600)


def ensure_superuser(email=DEFAULT_EMAIL, password=None, password_file=None):
    """The superuser with this email, created with `password`, or with a random password
    written to `password_file`, or else with no usable password."""
    user = User.objects.filter(email=email).first()
    if user is not None:
        if not user.is_admin:
            user.is_admin = True
            user.save(update_fields=["is_admin"])
        return Found(user, False)
    if not password and password_file is not None:
        password = secrets.token_urlsafe(12)
        write_private_file(password_file, password + "\n")
    return Found(User.objects.create_superuser(email, password or None), True)


def api_token(user, token_file=None):
    """An API token of `user`: the one kept in `token_file` while it still authenticates
    as this user, else a new one, then written there (owner-only). Only a digest of the key
    is in the database, so the file is the one place a key can be shown again from.
    Without a file, each call issues a new token."""
    if token_file is not None:
        try:
            kept = Path(token_file).read_text().strip()
        except FileNotFoundError:
            kept = ""
        if kept and token_authenticates(kept, user):
            return kept
    key = issue_token(user, description="Kept by bootstrap (make run)")
    if token_file is not None:
        write_private_file(token_file, key + "\n")
    return key


def ensure_default_farm(name=DEFAULT_FARM_NAME):
    """The farm named by PONOS_DEFAULT_FARM when set, else the oldest farm named `name`."""
    if settings.PONOS_DEFAULT_FARM:
        farm = Farm.objects.filter(pk=settings.PONOS_DEFAULT_FARM).first()
        if farm is None:
            raise ImproperlyConfigured(
                f"PONOS_DEFAULT_FARM names the farm {settings.PONOS_DEFAULT_FARM}, which does "
                "not exist: unset it to create a default farm, or create that farm first."
            )
        return Found(farm, False)
    farm = Farm.objects.filter(name=name).order_by("id").first()
    if farm is not None:
        return Found(farm, False)
    return Found(create_farm(name), True)


def ensure_demo_corpus(user):
    corpus = Corpus.objects.filter(
        name=DEMO_CORPUS_NAME, memberships__user=user, memberships__level=Level.ADMIN
    ).first()
    if corpus is not None:
        return Found(corpus, False)
    with transaction.atomic():
        corpus = Corpus.objects.create(name=DEMO_CORPUS_NAME)
        CorpusMembership.objects.create(corpus=corpus, user=user, level=Level.ADMIN)
    return Found(corpus, True)


def ensure_demo_versions():
    """The demo worker and one version per role; a version is reused when its command is
    unchanged, so changing a command here makes a new version."""
    worker, worker_created = Worker.objects.get_or_create(
        slug=DEMO_WORKER_SLUG, defaults={"name": "Demo worker", "type": "demo"}
    )
    versions, created = {}, worker_created
    for role, (_description, command) in DEMO_VERSIONS.items():
        version = (
            WorkerVersion.objects.filter(worker=worker, command=command).order_by("version").first()
        )
        if version is None:
            version = create_worker_version(worker.pk, docker_image=DEMO_IMAGE, command=command)
            created = True
        versions[role] = version
    return Found(versions, created)


def ensure_demo_folder(corpus):
    """A folder of DEMO_PAGES pages in the demo corpus, with the `folder` and `page` types."""
    folder_type, _ = ElementType.objects.get_or_create(
        corpus=corpus, slug="folder", defaults={"display_name": "Folder", "folder": True}
    )
    page_type, _ = ElementType.objects.get_or_create(
        corpus=corpus, slug="page", defaults={"display_name": "Page"}
    )
    folder = Element.objects.filter(corpus=corpus, type=folder_type, name=DEMO_FOLDER_NAME).first()
    if folder is None:
        with transaction.atomic():
            folder = create_element(corpus=corpus, type=folder_type, name=DEMO_FOLDER_NAME)
            create_elements(
                corpus=corpus,
                type=page_type,
                names=[f"Page {n}" for n in range(1, DEMO_PAGES + 1)],
                parent=folder,
            )
    return folder, page_type


def ensure_demo_process(name, user, corpus, farm, versions):
    """A demo process with its worker runs, started on `farm` once."""
    process = Process.objects.filter(name=name, corpus=corpus, creator=user).first()
    created = process is None
    activities = name == ACTIVITIES_PROCESS
    if created:
        selection = {}
        if activities:
            folder, page_type = ensure_demo_folder(corpus)
            selection = {
                "element": folder,
                "load_children": True,
                "element_type": page_type,
                "chunks": 2,
            }
        process = Process.objects.create(
            name=name, mode=ProcessMode.WORKERS, corpus=corpus, creator=user, **selection
        )
        worker_runs = {}
        for role, parents in DEMO_PROCESSES[name]:
            worker_runs[role] = create_worker_run(
                process.pk,
                version=versions[role],
                parents=[worker_runs[parent] for parent in parents],
            )
    if process.started is None:
        # Its worker activities are created once this commits (right after, without Redis).
        start_process(process.pk, farm=farm, worker_activity=activities)
        process.refresh_from_db()
    return Found(process, created)


@dataclasses.dataclass
class Installation:
    """What `bootstrap` found or created; the demo fields stay empty without the demo."""

    superuser: Found
    token: str
    farm: Found
    corpus: Found | None = None
    versions: Found | None = None
    processes: list = dataclasses.field(default_factory=list)

    def created(self):
        found = [self.superuser, self.farm, self.corpus, self.versions, *self.processes]
        return sum(item.created for item in found if item is not None)

    def reused(self):
        found = [self.superuser, self.farm, self.corpus, self.versions, *self.processes]
        return sum(not item.created for item in found if item is not None)


def bootstrap(
    *, email=DEFAULT_EMAIL, password=None, password_file=None, token_file=None, demo=True
):
    """Everything `make run` needs: found again, or created."""
    superuser = ensure_superuser(email, password, password_file)
    installation = Installation(
        superuser=superuser,
        token=api_token(superuser.obj, token_file),
        farm=ensure_default_farm(),
    )
    if demo:
        user, farm = superuser.obj, installation.farm.obj
        installation.corpus = ensure_demo_corpus(user)
        installation.versions = ensure_demo_versions()
        installation.processes = [
            ensure_demo_process(
                name, user, installation.corpus.obj, farm, installation.versions.obj
            )
            for name in DEMO_PROCESSES
        ]
    return installation
