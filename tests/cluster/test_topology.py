"""The cluster's shape: agent hosts reach the API only through the proxy, and the throttles
of the anonymous endpoints hold across the three nodes, through the cache they share in
Redis."""

from collections import Counter

import requests

from tests.cluster.topology import LOGIN_RATE, REGISTER_RATE


def per_node(proxy, before):
    """Requests each node answered since the `before` snapshot of the proxy's counters."""
    now = {name: int(row["stot"]) for name, row in proxy.servers().items()}
    return {name: now[name] - before.get(name, 0) for name in now}


def snapshot(proxy):
    return {name: int(row["stot"]) for name, row in proxy.servers().items()}


def test_agent_hosts_reach_the_proxy_and_s3_but_no_api_node(cluster):
    host = cluster.hosts[2]
    proxy_port = cluster.proxy.port
    assert host.can_connect(cluster.gateway, proxy_port)
    assert host.can_connect(cluster.gateway, cluster.s3.port)
    for port in cluster.node_ports.values():
        assert not host.can_connect("127.0.0.1", port)
        assert not host.can_connect(cluster.gateway, port)
    assert {name: row["status"] for name, row in cluster.proxy.servers().items()} == {
        "api1": "UP",
        "api2": "UP",
        "api3": "UP",
    }


def test_logins_spread_over_the_three_nodes_are_throttled_as_one(cluster):
    limit = int(LOGIN_RATE.split("/")[0])
    before = snapshot(cluster.proxy)
    statuses = [
        requests.post(
            f"{cluster.proxy.url}/api/v1/user/login/",
            json={"email": "nobody@example.com", "password": "wrong"},
            timeout=10,
        ).status_code
        for _ in range(limit + 10)
    ]
    served = per_node(cluster.proxy, before)

    # Every node answered some of them; one node alone, or each node counting for itself,
    # would have let through up to three times the limit
    assert all(count >= limit // 3 for count in served.values()), served
    assert sum(served.values()) == limit + 10
    assert Counter(statuses) == {401: limit, 429: 10}
    assert statuses[:limit] == [401] * limit


def test_agent_registrations_spread_over_the_three_nodes_are_throttled_as_one(cluster):
    limit = int(REGISTER_RATE.split("/")[0])
    before = snapshot(cluster.proxy)
    answers = [
        requests.post(
            f"{cluster.proxy.url}/api/v1/agent/",
            json={
                "farm": cluster.stack.farm_id,
                "seed": "not-the-seed",
                "hostname": "guesser",
                "cpu_cores": 1,
                "cpu_frequency": 1_000_000_000,
                "ram_total": 1024**3,
                "gpus": [],
            },
            timeout=10,
        )
        for _ in range(limit + 5)
    ]
    served = per_node(cluster.proxy, before)

    assert all(count >= limit // 3 for count in served.values()), served
    assert Counter(answer.status_code for answer in answers) == {403: limit, 429: 5}
    # The refused ones say when to come back
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 429)
    assert cluster.stack.db.rows("SELECT count(*) FROM ponos_agent WHERE hostname = 'guesser'") == [
        (0,)
    ]
