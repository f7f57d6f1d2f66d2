"""Settings of the benchmarks: the product's settings, with a URLconf that adds one
do-nothing endpoint (the floor of a request through the whole stack), and a cache shared by
the gunicorn workers, as Redis shares it in production (a user's watch mark, set by one
worker, is read by the agent's poll on another)."""

import os

from arkindex.settings import *  # noqa: F403

if "ARKINDEX_BENCH_CACHE_DIR" in os.environ:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ["ARKINDEX_BENCH_CACHE_DIR"],
        }
    }

ROOT_URLCONF = "bench.urls"
