"""The cluster's shape: agent hosts reach the API only through the proxy, and the throttles
of the anonymous endpoints hold across the three nodes, through the cache they share in
Redis."""

import json

from tests.cluster.topology import LOGIN_RATE, REGISTER_RATE


def per_node(proxy, before):
    """Requests each node answered since the `before` snapshot of the proxy's counters."""
    now = {name: int(row["stot"]) for name, row in proxy.servers().items()}
    return {name: now[name] - before.get(name, 0) for name in now}


def snapshot(proxy):
    return {name: int(row["stot"]) for name, row in proxy.servers().items()}


def test_agent_hosts_reach_the_proxy_and_s3_but_no_api_node(cluster):
    for host in [*cluster.hosts, cluster.client_host]:
        assert host.can_connect(cluster.gateway, cluster.proxy.port), host.name
        assert host.can_connect(cluster.gateway, cluster.s3.port), host.name
        for port in cluster.node_ports.values():
            assert not host.can_connect("127.0.0.1", port), host.name
            assert not host.can_connect(cluster.gateway, port), host.name
    assert {name: row["status"] for name, row in cluster.proxy.servers().items()} == {
        "api1": "UP",
        "api2": "UP",
        "api3": "UP",
    }


def burst(cluster, path, body, count):
    """POST `body` to `path` `count` times in a row from the client host, through the
    proxy: [(status, Retry-After or None)]."""
    code = (
        "import json, sys, requests\n"
        "url, body, count = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])\n"
        "answers = [requests.post(url, json=body, timeout=30) for _ in range(count)]\n"
        "print(json.dumps([(a.status_code, a.headers.get('Retry-After')) for a in answers]))\n"
    )
    url = f"{cluster.proxy.url}/api/v1/{path}"
    output = cluster.client_host.python(code, url, json.dumps(body), count)
    return [tuple(answer) for answer in json.loads(output)]


def test_logins_spread_over_the_three_nodes_are_throttled_as_one(cluster):
    limit = int(LOGIN_RATE.split("/")[0])
    before = snapshot(cluster.proxy)
    answers = burst(
        cluster, "user/login/", {"email": "nobody@example.com", "password": "wrong"}, limit + 10
    )
    served = per_node(cluster.proxy, before)

    # Every node answered a third of them; each node counting for itself would have let
    # through up to three times the limit
    assert all(count >= limit // 3 for count in served.values()), served
    assert sum(served.values()) == limit + 10
    statuses = [status for status, _retry in answers]
    assert statuses == [401] * limit + [429] * 10
    # The refused ones say when to come back
    assert all(int(retry) > 0 for status, retry in answers if status == 429)


def test_agent_registrations_spread_over_the_three_nodes_are_throttled_as_one(cluster):
    limit = int(REGISTER_RATE.split("/")[0])
    before = snapshot(cluster.proxy)
    body = {
        "farm": cluster.stack.farm_id,
        "seed": "not-the-seed",
        "hostname": "guesser",
        "cpu_cores": 1,
        "cpu_frequency": 1_000_000_000,
        "ram_total": 1024**3,
        "gpus": [],
    }
    answers = burst(cluster, "agent/", body, limit + 5)
    served = per_node(cluster.proxy, before)

    assert all(count >= limit // 3 for count in served.values()), served
    assert [status for status, _retry in answers] == [403] * limit + [429] * 5
    assert cluster.stack.db.rows("SELECT count(*) FROM ponos_agent WHERE hostname = 'guesser'") == [
        (0,)
    ]
