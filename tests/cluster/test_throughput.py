"""Assignment throughput over the proxy with 1, 2 and 3 API nodes: 12 agents poll
RetrieveAgentActions until a queue of 2,000 pending tasks is all handed out.

The method is the one of `make bench` (scenario 3), whose single-node figures the README
shows beside these: each agent is a process of its own, and each task it is told to start
is completed straight in the database, so that the API sees nothing but polls. Nodes are
taken out of the rotation through HAProxy's administration socket (`maint`).
"""

import time
from collections import defaultdict

import requests

from bench import load
from tests.cluster.faults import table
from tests.cluster.work import Work
from tests.e2e.helpers import wait_for

AGENTS = 12
AGENT_CORES = 4
QUEUE_WIDTH = 200
QUEUE_CHUNKS = 10
QUEUE = QUEUE_WIDTH * QUEUE_CHUNKS


def register(proxy_url, farm_id, seed, hostname):
    """CreateAgent through the proxy, waiting out the throttle if an earlier test used it."""
    body = {
        "farm": farm_id,
        "seed": seed,
        "hostname": hostname,
        "cpu_cores": AGENT_CORES,
        "cpu_frequency": 2_000_000_000,
        "ram_total": 8 * 1024**3,
        "gpus": [],
    }
    deadline = time.monotonic() + 120
    while True:
        response = requests.post(f"{proxy_url}/api/v1/agent/", json=body, timeout=30)
        if response.status_code != 429 or time.monotonic() > deadline:
            break
        time.sleep(int(response.headers["Retry-After"]))
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def queue(work, farm_id, name):
    """A process of QUEUE parentless tasks, all pending on `farm_id`."""
    runs = [("marker", []) for _ in range(QUEUE_WIDTH)]
    return work.start(name, runs, farm=farm_id, chunks=QUEUE_CHUNKS)


def test_assignment_throughput_over_the_proxy_with_one_two_and_three_nodes(cluster, tmp_path):
    stack, proxy = cluster.stack, cluster.proxy
    # Nothing else polls while this runs
    for _host, agent in cluster.agents.values():
        if agent.alive():
            agent.stop()
    farm_id, seed = stack.create_farm("Throughput farm")
    agents = [register(proxy.url, farm_id, seed, f"poller-{i}") for i in range(AGENTS)]
    work = Work(stack.api, tmp_path, suffix="-throughput")
    nodes = list(cluster.node_ports)
    direct = f"http://127.0.0.1:{cluster.node_ports[nodes[0]]}"
    rows = []
    try:
        # First one node without the proxy, the figure of `make bench`, at the same moment
        for count, base in ((0, direct), (1, proxy.url), (2, proxy.url), (3, proxy.url)):
            url = f"{base}/api/v1/agent/actions/"
            # Made through the proxy while every node is in
            process_id = queue(work, farm_id, f"Queue for {count} nodes")
            for index, name in enumerate(nodes):
                proxy.set_state(name, "ready" if index < count else "maint")
            wait_for(
                lambda count=count: (
                    [row["status"] for row in proxy.servers().values()]
                    == ["UP"] * count + ["MAINT"] * (3 - count)
                ),
                message=lambda count=count: f"the proxy to use {count} nodes: {proxy.servers()}",
            )
            before = {name: int(row["stot"]) for name, row in proxy.servers().items()}
            jobs = [
                (url, f"Bearer {token}", agent_id, stack.db.url, "ponos_task", QUEUE)
                for agent_id, token in agents
            ]
            released, results = load.run_workers(load.polling_agent, jobs, timeout=300)
            assert load.first_error(results) is None, load.first_error(results)
            served = {
                name: int(row["stot"]) - before[name] for name, row in proxy.servers().items()
            }
            holders = defaultdict(set)
            for (agent_id, _token), result in zip(agents, results, strict=True):
                for task_id in result["announced"]:
                    holders[task_id].add(agent_id)
            doubles = sum(len(held) > 1 for held in holders.values())
            doubles += sum(result["mismatches"] for result in results)
            errors = sum(result["errors"] for result in results)
            done = max(result["done_at"] or 0 for result in results)
            assert len(holders) == QUEUE and doubles == 0 and errors == 0
            for name in nodes:
                proxy.set_state(name, "ready")
            assert stack.db.rows(
                "SELECT state, count(*) FROM ponos_task WHERE process_id = %s GROUP BY state",
                process_id,
            ) == [("completed", QUEUE)]
            # Only the nodes in the rotation answered (none through the proxy without it)
            assert [served[name] > 0 for name in nodes] == [i < count for i in range(3)]
            rows.append(
                [
                    count or "1, no proxy",
                    f"{QUEUE / (done - released):,.0f}",
                    f"{load.client_rate(results):,.0f}",
                    " / ".join(f"{served[name]:,}" for name in nodes),
                    doubles,
                    errors,
                ]
            )
    finally:
        for name in nodes:
            proxy.set_state(name, "ready")
    print(
        f"\nAssignment over HAProxy: {AGENTS} agents polling until {QUEUE:,} pending tasks "
        "are handed out\n"
        + table(
            rows,
            ["nodes", "tasks/s", "polls/s", "polls per node", "double assignments", "errors"],
        )
        + "\n"
    )
