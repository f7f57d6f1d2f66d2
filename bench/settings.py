"""Settings of the benchmarks: the product's settings, with a URLconf that adds one
do-nothing endpoint (the floor of a request through the whole stack)."""

from arkindex.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
