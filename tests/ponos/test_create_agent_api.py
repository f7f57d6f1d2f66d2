import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from ponos.models import GPU, Agent, State, Task, hash_token
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import client_for
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agent/"


def body(joined, **overrides):
    values = {
        "farm": str(joined.id),
        "seed": joined.seed,
        "hostname": "gpu-box",
        "cpu_cores": 8,
        "cpu_frequency": 3_000_000_000,
        "ram_total": 32 * 1024**3,
        "gpus": [
            {"id": "GPU-aaaa", "name": "Tesla T4", "index": 0, "ram_total": 16 * 1024**3},
        ],
    }
    values.update(overrides)
    return values


def register(api, joined, **overrides):
    return api.post(URL, body(joined, **overrides), format="json")


def poll(token):
    return client_for(token=token, scheme="Bearer").get("/api/v1/agent/actions/")


def test_an_agent_joins_a_farm_with_its_seed(api, farm):
    response = register(api, farm)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert set(answer) == {"id", "token"}
    agent = Agent.objects.get(pk=answer["id"])
    assert agent.farm == farm
    assert agent.hostname == "gpu-box"
    assert (agent.cpu_cores, agent.cpu_frequency, agent.ram_total) == (8, 3e9, 32 * 1024**3)
    assert agent.enabled
    # Only its digest is stored.
    assert agent.token_hash == hash_token(answer["token"])
    assert answer["token"] not in agent.token_hash
    assert list(agent.gpus.values_list("gpu_id", "name", "index", "ram_total")) == [
        ("GPU-aaaa", "Tesla T4", 0, 16 * 1024**3)
    ]
    assert poll(answer["token"]).status_code == 200


def test_a_wrong_seed_is_forbidden(api, farm):
    response = register(api, farm, seed="0" * 64)
    assert_error(response, 403, code="permission_denied")
    assert not Agent.objects.exists()


def test_the_seed_of_another_farm_is_forbidden(api, farm, other_farm):
    response = register(api, farm, seed=other_farm.seed)
    assert_error(response, 403)
    assert not Agent.objects.exists()


def test_an_unknown_farm_is_a_validation_error(api, farm):
    response = register(api, farm, farm="00000000-0000-4000-8000-000000000000")
    assert_error(response, 400, attr=["farm"])


@pytest.mark.parametrize(
    ("overrides", "attr"),
    [
        ({"farm": "not-a-uuid"}, ["farm"]),
        ({"cpu_cores": 0}, ["cpu_cores"]),
        ({"ram_total": -1}, ["ram_total"]),
        ({"hostname": ""}, ["hostname"]),
        ({"gpus": [{"id": "a", "name": "x", "index": 0}]}, ["gpus", 0, "ram_total"]),
        (
            {
                "gpus": [
                    {"id": "a", "name": "x", "index": 0, "ram_total": 1},
                    {"id": "a", "name": "x", "index": 1, "ram_total": 1},
                ]
            },
            ["gpus"],
        ),
    ],
)
def test_invalid_registrations_are_refused(api, farm, overrides, attr):
    assert_error(register(api, farm, **overrides), 400, attr=attr)
    assert not Agent.objects.exists()


def test_registering_again_gives_a_new_token_and_revokes_the_old_one(api, farm, process):
    first = register(api, farm).json()
    agent = Agent.objects.get(pk=first["id"])
    gpu = agent.gpus.get()
    pending = TaskFactory(process=process, slug="held", state=State.PENDING, agent=agent, gpu=gpu)
    running = TaskFactory(process=process, slug="running", state=State.RUNNING, agent=agent)
    stopping = TaskFactory(process=process, slug="stopping", state=State.STOPPING, agent=agent)
    done = TaskFactory(process=process, slug="done", state=State.COMPLETED, agent=agent)

    response = register(
        api,
        farm,
        cpu_cores=16,
        ram_total=64 * 1024**3,
        gpus=[
            {"id": "GPU-aaaa", "name": "Tesla T4 (renamed)", "index": 1, "ram_total": 1024},
            {"id": "GPU-bbbb", "name": "A100", "index": 0, "ram_total": 40 * 1024**3},
        ],
    )
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["id"] == first["id"]
    assert second["token"] != first["token"]
    assert Agent.objects.count() == 1

    agent.refresh_from_db()
    assert (agent.cpu_cores, agent.ram_total) == (16, 64 * 1024**3)
    # The GPU declared again keeps its row; the new one is added.
    assert list(agent.gpus.order_by("index").values_list("gpu_id", "name", "index")) == [
        ("GPU-bbbb", "A100", 0),
        ("GPU-aaaa", "Tesla T4 (renamed)", 1),
    ]
    assert agent.gpus.get(gpu_id="GPU-aaaa").pk == gpu.pk

    # Its held tasks were handled by the dead-agent rule.
    pending.refresh_from_db()
    assert (pending.state, pending.agent, pending.gpu) == (State.PENDING, None, None)
    assert Task.objects.get(pk=running.pk).state == State.ERROR
    assert Task.objects.get(pk=stopping.pk).state == State.STOPPED
    assert Task.objects.get(pk=done.pk).state == State.COMPLETED

    assert_unauthorized(poll(first["token"]), code="authentication_failed")
    # The new token works, and the task back in the queue may be taken again.
    assert poll(second["token"]).json() == {
        "actions": [{"action": "start_task", "task_id": str(pending.id)}],
        "watched": [],
    }


def test_registering_again_forgets_the_gpus_it_no_longer_has(api, farm):
    register(api, farm)
    register(api, farm, gpus=[])
    assert not GPU.objects.exists()


def test_a_disabled_agent_stays_disabled_when_it_registers_again(api, farm):
    agent = Agent.objects.get(pk=register(api, farm).json()["id"])
    agent.enabled = False
    agent.save(update_fields=["enabled"])
    register(api, farm)
    agent.refresh_from_db()
    assert not agent.enabled


def test_the_same_hostname_on_another_farm_is_another_agent(api, farm, other_farm):
    first = register(api, farm).json()
    second = register(api, other_farm).json()
    assert first["id"] != second["id"]
    assert Agent.objects.count() == 2


def test_registration_needs_no_credentials_and_ignores_them(farm, agent):
    client = client_for(token="junk", scheme="Bearer")
    assert register(client, farm).status_code == 201


def test_registration_is_throttled_per_client_address(api, farm):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "register": "2/min"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        statuses = [register(api, farm, seed="wrong").status_code for _ in range(2)]
        assert statuses == [403, 403]
        # Over the rate, even the right seed is refused.
        assert_error(register(api, farm), 429, code="throttled")
        other = APIClient(REMOTE_ADDR="192.0.2.44")
        assert register(other, farm).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_host_make_one_agent(farm):
    AgentFactory(farm=farm, hostname="other-host")
    barrier = threading.Barrier(6)
    answers, errors = [], []

    def attempt():
        try:
            barrier.wait()
            answers.append(register(APIClient(), farm))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(response.status_code for response in answers) == [200] * 5 + [201]
    agent = Agent.objects.get(hostname="gpu-box")
    assert len({response.json()["id"] for response in answers}) == 1
    # Exactly one of the tokens handed out works: the last one written.
    working = [
        response.json()["token"]
        for response in answers
        if hash_token(response.json()["token"]) == agent.token_hash
    ]
    assert len(working) == 1
