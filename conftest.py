"""Settings of the test environment, set before Django reads them."""

import os
import tempfile

os.environ.setdefault("ARKINDEX_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("ARKINDEX_PUBLIC_URL", "http://testserver")
os.environ.setdefault("ARKINDEX_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("ARKINDEX_STORAGE_DIR", tempfile.mkdtemp(prefix="arkindex-test-storage-"))
os.environ.setdefault("ARKINDEX_STORAGE", "local")
