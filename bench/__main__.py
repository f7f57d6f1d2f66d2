"""`python -m bench [--quick] [--only 1,3] [--strict]` against ARKINDEX_DATABASE_URL.

`make bench` gives it a throwaway PostgreSQL. The benchmark's own settings module adds the
do-nothing endpoint; everything else is the product's configuration.
"""

import argparse
import os
import sys
import tempfile


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument(
        "--only",
        type=lambda value: {int(part) for part in value.split(",")},
        help="comma-separated scenario numbers, e.g. 1,3",
    )
    parser.add_argument("--strict", action="store_true", help="exit with 1 when a target is missed")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile each measured endpoint in-process (pyinstrument), into bench/profiles/",
    )
    return parser.parse_args(argv)


def environment():
    """The environment of this process, gunicorn's workers and the cleanup command."""
    if not os.environ.get("ARKINDEX_DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "ARKINDEX_DATABASE_URL must point at a PostgreSQL database that may be filled "
            "with millions of rows: run `make bench`, which starts a throwaway one."
        )
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("ARKINDEX_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    os.environ["ARKINDEX_ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ["ARKINDEX_DEBUG"] = "false"
    os.environ["ARKINDEX_STORAGE"] = "local"
    os.environ.setdefault("ARKINDEX_STORAGE_DIR", tempfile.mkdtemp(prefix="arkindex-bench-"))
    os.environ.setdefault("ARKINDEX_BENCH_CACHE_DIR", tempfile.mkdtemp(prefix="arkindex-cache-"))
    os.environ["ARKINDEX_METRICS_TOKEN"] = "bench-metrics-token"
    # Registration and login throttles are not what is measured.
    os.environ.pop("ARKINDEX_REDIS_URL", None)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    environment()
    import django

    django.setup()
    from bench.config import FULL, QUICK
    from bench.runner import run

    return run(
        QUICK if args.quick else FULL, only=args.only, strict=args.strict, profile=args.profile
    )


if __name__ == "__main__":
    sys.exit(main())
