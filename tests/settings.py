"""Settings of the test suite: the test environment's variables, then the real settings.

pytest-django imports the settings module before pytest loads any conftest, so the
variables must be set here, before `arkindex.settings` reads them.
"""

import os
import tempfile

os.environ.setdefault("ARKINDEX_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("ARKINDEX_PUBLIC_URL", "http://testserver")
os.environ.setdefault("ARKINDEX_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("ARKINDEX_STORAGE_DIR", tempfile.mkdtemp(prefix="arkindex-test-storage-"))
os.environ.setdefault("ARKINDEX_STORAGE", "local")

from arkindex.settings import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A test database in a file, as `make run` has, rather than in memory: an in-memory
    # database shared between threads locks whole tables and ignores the busy timeout, which
    # the concurrency tests would meet and the real default never does. pytest-xdist gives
    # each worker a copy of its own (suffixed names).
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"arkindex-test-{os.getpid()}.sqlite3")
    }
