"""Fuzzing the API against its own schema with schemathesis, in-process through WSGI.

Every operation of the schema gets generated requests, valid ones and ones that break the
schema on purpose, as a superuser and as an outsider, half of them with odd headers
(If-None-Match and other conditional headers, ranges, forged proxy headers). Whatever the
input, no answer is a 5xx, every answer (errors included) has a status, a content type and
a body that the schema declares for the operation, and no answer holds a secret (a farm
seed, an agent token, a task token).

`make test` runs a few examples per operation and caller with a fixed seed;
`make fuzz` runs many more (`--fuzz-examples`, and `--fuzz-seed` to explore elsewhere).
Generated ids rarely name an object, so three cases out of four get the id of a real object of
the right kind in their path and body, to reach past the 404s.
"""

import gzip

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from arkindex.users.models import UserToken
from arkindex.users.tokens import hash_key, issue_token
from ponos.models import Artifact, State
from tests.factories import AgentFactory, TaskFactory, WorkerRunFactory, WorkerVersionFactory
from tests.security.helpers import element_of, path_kind

pytestmark = pytest.mark.django_db

# Examples per operation and caller in `make test`, and the seed of every run.
DEFAULT_EXAMPLES = 12
DEFAULT_SEED = 20261105

APP = WSGIHandler()
SCHEMA = schemathesis.openapi.from_wsgi("/api/v1/openapi/?format=json", APP)
OPERATIONS = sorted(
    (result.ok() for result in SCHEMA.get_all_operations()),
    key=lambda op: op.definition.raw["operationId"],
)


def secrets_check(secrets):
    """A check that no response holds one of `secrets`."""

    def no_secret_in_the_response(ctx, response, case):
        text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{case.operation.label} answered with {', '.join(leaked)}"
        return True

    return no_secret_in_the_response


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_settings(request):
    # The options come from the root conftest; without it, the defaults.
    examples = request.config.getoption("--fuzz-examples", None)
    seed = request.config.getoption("--fuzz-seed", None)
    return {
        "examples": DEFAULT_EXAMPLES if examples is None else examples,
        "seed": DEFAULT_SEED if seed is None else seed,
    }


@pytest.fixture
def world(superuser, outsider, corpus, process, running_task, agent, farm):
    """Objects of every kind, for ids in paths and bodies, and the secrets to look for."""
    version = WorkerVersionFactory()
    worker_run = WorkerRunFactory(process=process, version=version)
    failed = TaskFactory(process=process, slug="failed", state=State.FAILED)
    Artifact.objects.create(task=running_task, path="out/a.txt", size=3)
    # A token of the outsider's besides the one it calls with, for the token operations.
    spare_token = UserToken.objects.get(key_hash=hash_key(issue_token(outsider, "Spare")))
    ids = {
        "user_token": spare_token.id,
        "corpus": corpus.id,
        "process": process.id,
        "task": running_task.id,
        "failed": failed.id,
        "worker": version.worker_id,
        "version": version.id,
        "worker_run": worker_run.id,
        "element": element_of(corpus).id,
        "farm": farm.id,
        "seed": farm.seed,
    }
    secrets = {
        "the farm seed": farm.seed,
        "an agent token": agent.clear_token,
        "a task token": running_task.token,
        "another agent token": AgentFactory(farm=farm).clear_token,
        "a user token": outsider.auth_token_key,
    }
    tokens = {"superuser": superuser.auth_token_key, "outsider": outsider.auth_token_key}
    return ids, secrets, tokens


def path_object(path):
    """The kind of object the `{id}` of a path names; restarts need a failed task."""
    if path.endswith("/restart/"):
        return "failed"
    return path_kind(path)


BODY_IDS = {
    "corpus": "corpus",
    "farm": "farm",
    "version": "version",
    "process_id": "process",
    "parent": "element",
}


def use_real_ids(case, ids):
    """Put the ids of real objects where the case has generated ones."""
    kind = path_object(case.operation.path)
    if kind and "id" in (case.path_parameters or {}):
        case.path_parameters["id"] = str(ids[kind])
    if "corpus" in (case.path_parameters or {}):
        case.path_parameters["corpus"] = str(ids["corpus"])
    if "path" in (case.path_parameters or {}):
        case.path_parameters["path"] = "out/a.txt"
    if isinstance(case.body, dict):
        for key, kind in BODY_IDS.items():
            if key in case.body:
                case.body[key] = str(ids[kind])
        if "seed" in case.body:
            case.body["seed"] = ids["seed"]


# Characters and strings no schema forbids but databases, parsers and paths choke on. (Lone
# surrogates, which schemathesis cannot send, are in tests/security/test_hostile_input.py.)
HOSTILE = ["\x00", "../" * 40 + "etc/passwd", "9" * 400, "\u202e\ufeff", "%00%2e%2e"]


# Headers a browser, a cache or an attacker may send with any request: conditional ones on
# every operation (SQLite once answered 500 to any If-None-Match on RetrieveProcess), odd
# ranges and types, forged proxy headers, and long or malformed values.


def decoded(response):
    """The answer as an HTTP client reads it: the app gzips large answers for clients that
    accept it (one odd header does), and the in-process transport hands over the raw bytes.
    The body must then decompress; it is validated decompressed."""
    encodings = {
        value.lower()
        for name, values in response.headers.items()
        if name.lower() == "content-encoding"
        for value in values
    }
    if "gzip" in encodings:
        response.content = gzip.decompress(response.content)
    return response


ODD_HEADERS = [
    {"If-None-Match": "*"},
    {"If-None-Match": '"0123456789abcdef"'},
    {"If-None-Match": 'W/"x", "y", *'},
    {"If-None-Match": "not-a-quoted-tag"},
    {"If-None-Match": '"' + "a" * 4000 + '"'},
    {"If-Match": "*", "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
    {"If-Modified-Since": "yesterday", "If-Unmodified-Since": "\u00e9t\u00e9"},
    {"Range": "bytes=0-0,5-"},
    {"Range": "bytes=-999999999999999999999"},
    {"Accept": "text/html;q=0.1, */*;q=0.0"},
    {"Accept": "application/xml"},
    {"Accept-Language": "zz-ZZ, *;q=0.5"},
    {"Accept-Encoding": "gzip;q=1, br, *"},
    {"X-Forwarded-For": "1.2.3.4, , not-an-address"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
    {"Origin": "https://evil.example", "Referer": "javascript:alert(1)"},
    {"Cookie": "sessionid=" + "x" * 300 + "; arkindex.csrf=%00"},
    {"X-CSRFToken": "\u00ff" * 64},
]


def inject(case, text):
    """Append `text` to every string of the body and query, and add it as a key and a value
    to every JSON object of the body (configurations, env)."""

    def spoil(value):
        if isinstance(value, str):
            return value + text
        if isinstance(value, list):
            return [spoil(item) for item in value]
        if isinstance(value, dict):
            return {**{key: spoil(item) for key, item in value.items()}, text: text}
        return value

    if isinstance(case.body, dict):
        case.body = {key: spoil(value) for key, value in case.body.items()}
    if case.query:
        case.query = {key: spoil(value) for key, value in case.query.items()}


@pytest.fixture
def wsgi_requests():
    """Requests through the WSGI handler inside the test's transaction.

    Django closes the database connection at the end of a request when it is in a
    transaction; the test client stops that, and so must we.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("caller", ["superuser", "outsider"])
@pytest.mark.parametrize(
    "operation", OPERATIONS, ids=[op.definition.raw["operationId"] for op in OPERATIONS]
)
def test_every_answer_conforms_to_the_schema(
    request, world, fuzz_settings, wsgi_requests, operation, caller
):
    ids, secrets, tokens = world
    headers = {"Authorization": f"Token {tokens[caller]}"}
    checks = [*CHECKS, secrets_check(secrets)]
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    examples = []

    @hypothesis.settings(
        max_examples=fuzz_settings["examples"],
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @hypothesis.seed(fuzz_settings["seed"])
    # Real ids in three cases out of four; hostile strings in one out of four.
    @hypothesis.given(
        case=strategy,
        real_ids=st.integers(0, 3).map(bool),
        hostile=st.sampled_from([None, None, None, *HOSTILE]),
        # Odd headers in one case out of two
        odd=st.sampled_from([{}] * len(ODD_HEADERS) + ODD_HEADERS),
    )
    def fuzz(case, real_ids, hostile, odd):
        if real_ids:
            use_real_ids(case, ids)
        if hostile:
            inject(case, hostile)
        examples.append(1)
        sent = {**odd, **headers}
        response = decoded(case.call(headers=sent))
        case.validate_response(response, checks=checks, headers=sent)

    fuzz()
    request.node.user_properties.append(("fuzz_examples", len(examples)))
