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
