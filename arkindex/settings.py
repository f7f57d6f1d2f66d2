"""Django settings: every value comes from an environment variable (documented in the README).

Each variable named in the README is also exposed under the same name as a Django setting
(`settings.PONOS_URL_EXPIRY`, ...), so code reads one name everywhere.
"""

from pathlib import Path
from urllib.parse import urlsplit

from arkindex.env import (
    env_bool,
    env_database,
    env_int,
    env_json_object,
    env_list,
    env_rate,
    env_str,
    env_url,
    env_uuid,
)

BASE_DIR = Path(__file__).resolve().parent.parent

ARKINDEX_DEBUG = DEBUG = env_bool("ARKINDEX_DEBUG", False)
# A missing key outside debug is reported by the system check arkindex.E001, which names
# the variable, and the WSGI application refuses to load. A throwaway key keeps debug mode
# usable without configuration; outside debug there is no fallback (Django refuses to sign
# anything with an empty key), since a published key lets anyone forge sessions.
ARKINDEX_SECRET_KEY = env_str("ARKINDEX_SECRET_KEY")
SECRET_KEY = ARKINDEX_SECRET_KEY or (
    "insecure-development-key-only-for-debug-mode-000000" if ARKINDEX_DEBUG else ""
)
ARKINDEX_ALLOWED_HOSTS = ALLOWED_HOSTS = env_list(
    "ARKINDEX_ALLOWED_HOSTS", ["localhost", "127.0.0.1"]
)
ARKINDEX_PUBLIC_URL = env_url("ARKINDEX_PUBLIC_URL", "http://localhost:8000").rstrip("/")
ARKINDEX_REDIS_URL = env_url("ARKINDEX_REDIS_URL", schemes=("redis", "rediss", "unix"))
# Without Redis: a directory where the processes of this machine share their cache
ARKINDEX_CACHE_DIR = env_str("ARKINDEX_CACHE_DIR")
if ARKINDEX_CACHE_DIR and not Path(ARKINDEX_CACHE_DIR).is_absolute():
    ARKINDEX_CACHE_DIR = str(BASE_DIR / ARKINDEX_CACHE_DIR)
ARKINDEX_MAX_BODY_SIZE = env_int("ARKINDEX_MAX_BODY_SIZE", 10 * 1024 * 1024, minimum=1)

ARKINDEX_DATABASE_URL = env_str("ARKINDEX_DATABASE_URL", "sqlite:///var/arkindex.sqlite3")
DATABASES = {"default": env_database("ARKINDEX_DATABASE_URL", ARKINDEX_DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    db_name = Path(DATABASES["default"]["NAME"])
    if not db_name.is_absolute():
        db_name = BASE_DIR / db_name
        DATABASES["default"]["NAME"] = str(db_name)
    db_name.parent.mkdir(parents=True, exist_ok=True)
    # Immediate transactions make SQLite take its write lock at BEGIN, so two writers
    # never both read a row and then race to update it.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}

STORAGE_BACKENDS = {"local", "s3"}
# Unknown values are reported by the system check arkindex.E002 rather than a crash here.
ARKINDEX_STORAGE = env_str("ARKINDEX_STORAGE", "local")
ARKINDEX_STORAGE_DIR = env_str("ARKINDEX_STORAGE_DIR", "var/storage")
if not Path(ARKINDEX_STORAGE_DIR).is_absolute():
    ARKINDEX_STORAGE_DIR = str(BASE_DIR / ARKINDEX_STORAGE_DIR)
ARKINDEX_S3_ENDPOINT = env_url("ARKINDEX_S3_ENDPOINT")
ARKINDEX_S3_REGION = env_str("ARKINDEX_S3_REGION", "us-east-1")
ARKINDEX_S3_ACCESS_KEY = env_str("ARKINDEX_S3_ACCESS_KEY")
ARKINDEX_S3_SECRET_KEY = env_str("ARKINDEX_S3_SECRET_KEY")
PONOS_ARTIFACTS_BUCKET = env_str("PONOS_ARTIFACTS_BUCKET", "ponos-artifacts")
PONOS_LOGS_BUCKET = env_str("PONOS_LOGS_BUCKET", "ponos-logs")
PONOS_URL_EXPIRY = env_int("PONOS_URL_EXPIRY", 3600, minimum=1, maximum=7 * 24 * 3600)

PONOS_DEFAULT_FARM = env_uuid("PONOS_DEFAULT_FARM")
PONOS_TASK_EXPIRY_DAYS = env_int("PONOS_TASK_EXPIRY_DAYS", 30, minimum=1)
PONOS_DEFAULT_TTL = env_int("PONOS_DEFAULT_TTL", 0, minimum=0)
PONOS_AGENT_TIMEOUT = env_int("PONOS_AGENT_TIMEOUT", 120, minimum=1)
PONOS_LOG_TAIL = env_int("PONOS_LOG_TAIL", 10240, minimum=0)
# Largest log of a task: agents keep its head and its tail, the server refuses the rest
PONOS_LOG_MAX_SIZE = env_int("PONOS_LOG_MAX_SIZE", 64 * 1024**2, minimum=64 * 1024)
# Seconds a reader of a running task keeps it "watched" (its log sent every few seconds)
PONOS_LOG_WATCH_SECONDS = env_int("PONOS_LOG_WATCH_SECONDS", 30, minimum=1)
PONOS_ARTIFACT_MAX_SIZE = env_int("PONOS_ARTIFACT_MAX_SIZE", 5 * 1024**3, minimum=1)
PONOS_IMPORT_IMAGE = env_str("PONOS_IMPORT_IMAGE", "arkindex/import")
PONOS_IMPORT_COMMAND = env_str("PONOS_IMPORT_COMMAND", "python3 -m process.importer")
PONOS_DEFAULT_ENV = env_json_object("PONOS_DEFAULT_ENV", {})

# Values of throttled anonymous endpoints, per client address.
ARKINDEX_LOGIN_RATE = env_rate("ARKINDEX_LOGIN_RATE", "30/min")
ARKINDEX_REGISTER_RATE = env_rate("ARKINDEX_REGISTER_RATE", "60/min")
# CreateCorpusMembership per user: adding members by email must not probe many addresses.
ARKINDEX_MEMBERSHIP_RATE = env_rate("ARKINDEX_MEMBERSHIP_RATE", "100/hour")
# Reverse proxies in front of the app that append the client address to X-Forwarded-For.
# 0 (no proxy): the throttles use the connection's address and ignore the header, which
# any client can forge; behind one TLS proxy, set 1.
ARKINDEX_NUM_PROXIES = env_int("ARKINDEX_NUM_PROXIES", 0, minimum=0)
# Bearer token of `GET /metrics`; unset, the endpoint answers 404.
ARKINDEX_METRICS_TOKEN = env_str("ARKINDEX_METRICS_TOKEN")
# prometheus_client's own variable: with several gunicorn workers, each writes its request
# metrics there and a scrape sums them.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "arkindex.apps.ArkindexConfig",
    "arkindex.users",
    "arkindex.corpora",
    "arkindex.documents",
    "ponos",
    "process",
    # The pages for humans under /ui/, on top of the rest: nothing imports them.
    "pages",
]

MIDDLEWARE = [
    # First, so that every answer is counted, the refusals of the middlewares below included.
    "arkindex.api.metrics.RequestMetricsMiddleware",
    "arkindex.api.middleware.BodySizeLimitMiddleware",
    # Compresses what the views below answer (HTML and JSON, not storage files).
    "arkindex.api.middleware.CompressionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "arkindex.api.middleware.StrictTransportSecurityMiddleware",
    # Serves the admin's and the docs page's static files without debug mode
    # (`manage.py collectstatic` fills STATIC_ROOT).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "arkindex.urls"
WSGI_APPLICATION = "arkindex.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Also serve the files of the apps' static/ folders, found where they are: a checkout serves
# the pages' CSS and JavaScript even before `collectstatic` has run.
WHITENOISE_USE_FINDERS = True

# A reverse proxy terminates TLS: never redirect to HTTPS here, but trust its header.
SECURE_SSL_REDIRECT = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_COOKIE_NAME = "arkindex.csrf"
# A refused form of the pages (or of the admin) answers with a page saying what to do; the
# API checks CSRF itself and answers in its JSON format.
CSRF_FAILURE_VIEW = "pages.errors.csrf_failure"
LOGIN_URL = "/ui/login/"
# Behind an HTTPS public URL, browsers keep to HTTPS for a year
# (StrictTransportSecurityMiddleware); not for subdomains, which may be other services.
ARKINDEX_HSTS_SECONDS = 365 * 24 * 3600
# Behind an HTTPS public URL, the session and CSRF cookies never travel over plain HTTP.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = urlsplit(ARKINDEX_PUBLIC_URL).scheme == "https"
# An origin is a scheme and a host: a path in the public URL would never match one.
CSRF_TRUSTED_ORIGINS = ["{0.scheme}://{0.netloc}".format(urlsplit(ARKINDEX_PUBLIC_URL))]
# Large uploads never go through the API (signed storage URLs do), and DRF reads JSON
# itself: BodySizeLimitMiddleware enforces ARKINDEX_MAX_BODY_SIZE on every request.
DATA_UPLOAD_MAX_MEMORY_SIZE = ARKINDEX_MAX_BODY_SIZE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns failed authentication into 401.
        "arkindex.auth.UserTokenAuthentication",
        "ponos.auth.TaskTokenAuthentication",
        "ponos.auth.AgentTokenAuthentication",
        "arkindex.auth.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["arkindex.api.permissions.DefaultPermission"],
    "DEFAULT_PAGINATION_CLASS": "arkindex.api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "arkindex.api.schema.ArkindexAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "arkindex.api.negotiation.JSONWhateverTheAccept",
    "DEFAULT_PARSER_CLASSES": ["arkindex.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "arkindex.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": ARKINDEX_LOGIN_RATE,
        "register": ARKINDEX_REGISTER_RATE,
        "membership": ARKINDEX_MEMBERSHIP_RATE,
    },
    "NUM_PROXIES": ARKINDEX_NUM_PROXIES,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Arkindex processes and Ponos",
    "DESCRIPTION": "Processes (DAGs of tasks) run on farms of pull-based agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    # The docs page loads Swagger UI from our own static files, so it works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Each operation's line shows its summary and the operationId clients call it by.
    "SWAGGER_UI_SETTINGS": {"displayOperationId": True, "deepLinking": True},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TaskStateEnum": "ponos.models.State",
        "WorkerVersionStateEnum": "process.models.VersionState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "arkindex.api.schema.postprocess_schema",
    ],
}

# With Redis, every API node shares one cache: the throttles of Login and CreateAgent count
# the requests of a client address over all the nodes behind the proxy, not per process.
if ARKINDEX_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": ARKINDEX_REDIS_URL,
        }
    }
elif ARKINDEX_CACHE_DIR:
    # Without Redis, the processes of one machine (make run's gunicorn workers) share a
    # cache in files: a throttle counts the requests of every worker, not of one.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": ARKINDEX_CACHE_DIR,
        }
    }
else:
    # One process only: each process counts for itself
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

RQ_QUEUES = {
    "default": {"URL": ARKINDEX_REDIS_URL or "redis://localhost:6379/0", "DEFAULT_TIMEOUT": 3600}
}
if not ARKINDEX_REDIS_URL:
    # Without Redis, background jobs run synchronously in the request's process.
    RQ_QUEUES["default"]["ASYNC"] = False
else:
    # The RQ app brings `manage.py rqworker` and an admin page that needs Redis to answer.
    INSTALLED_APPS.append("django_rq")
    # `rqworker` runs the worker class that notices the jobs of a dead worker in seconds.
    RQ = {"WORKER_CLASS": "arkindex.jobs.Worker"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

DRF_STANDARDIZED_ERRORS = {"EXCEPTION_FORMATTER_CLASS": "arkindex.api.errors.ErrorFormatter"}
