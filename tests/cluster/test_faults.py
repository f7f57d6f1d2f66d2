"""Twenty processes on two farms, one of 2,000 tasks, while the cluster loses an API node,
its database, an RQ worker in the middle of a DestroyProcess job and the agents of one
host, and while `cleanup` runs on one node.

At the end every task ran exactly once (counted from the markers the tasks' commands
write, not from the API), every process completed, no storage object is left for a
deleted task, and the only 5xx answers were within the faults' windows.
"""

import os
import re
import signal
import subprocess
import time

from rq import Queue, Worker
from rq.job import Job
from rq.registry import StartedJobRegistry

from arkindex.jobs import JOB_RETRIES
from tests.cluster.faults import (
    Clock,
    Fault,
    kill_machine,
    report,
    restart_postgres,
    within,
)
from tests.cluster.topology import AGENT_TIMEOUT, Unit
from tests.cluster.work import (
    ACTIVE,
    SMALL_DAG,
    Work,
    big_dag,
    expected_state,
    present,
    storage_keys,
)
from tests.e2e.helpers import wait_for
from tests.e2e.stack import ARTIFACTS_BUCKET, LOGS_BUCKET

# The background job of DestroyProcess, deleting the storage objects of its tasks
DESTROY_JOB = "process.jobs.delete_storage_objects"

BIG_WIDTH = 190
BIG_CHUNKS = 10
BIG_TASKS = (BIG_WIDTH + 10) * BIG_CHUNKS
SMALL_PROCESSES = 19
# The longest wait of the run: everything finishing after the faults
RUN_TIMEOUT = 420


class Run:
    def __init__(self, cluster, markers):
        self.cluster = cluster
        self.stack = cluster.stack
        self.api = cluster.stack.api
        self.db = cluster.stack.db
        self.work = Work(self.api, markers)
        self.faults = []

    def count(self, sql, *params):
        return self.db.rows(sql, *params)[0][0]

    def completed(self, process_id):
        return self.count(
            "SELECT count(*) FROM ponos_task WHERE process_id = %s AND state = 'completed'",
            process_id,
        )

    def active_tasks(self):
        return self.count(
            "SELECT count(*) FROM ponos_task WHERE state IN ('pending', 'running', 'stopping')"
        )

    def finished_small(self, exclude=()):
        """Completed small processes whose objects are all stored."""
        for process_id, name in self.work.processes.items():
            if name == "Big" or process_id in exclude:
                continue
            if self.stack.process(process_id)["state"] != "completed":
                continue
            artifacts, logs = storage_keys(self.db, process_id)
            storage = self.stack.storage
            if present(storage, ARTIFACTS_BUCKET, artifacts) == artifacts and (
                present(storage, LOGS_BUCKET, logs) == logs
            ):
                return process_id
        return None

    # The faults

    def kill_api_node(self, name):
        fault = Fault(f"kill -9 API node {name}", time.time())
        clock = Clock()
        kill_machine(self.cluster.nodes[name])
        # Clients go on meanwhile: the proxy sends them to the other nodes
        for process_id in list(self.work.processes)[:5]:
            self.stack.process(process_id)
        wait_for(
            lambda: self.cluster.proxy.status(name).startswith("DOWN"),
            message=lambda: f"the proxy to take {name} out",
        )
        fault.detected = clock()
        fault.recovered = clock()
        # Its service manager starts it again (Restart=always)
        self.cluster.start_node(name)
        self.cluster.wait_node_up(name, timeout=60)
        fault.notes.append(f"out of the proxy at {fault.detected} s, back in at {clock()} s")
        self.faults.append(fault)

    def restart_database(self):
        fault = Fault("PostgreSQL restart", time.time())
        clock = Clock()
        proxy = self.cluster.proxy
        checks = {name: int(row["chkfail"]) for name, row in proxy.servers().items()}
        restart_postgres()
        restarted = clock()
        # The first request answered again
        self.stack.process(next(iter(self.work.processes)))
        fault.detected = restarted
        fault.recovered = clock()
        # The proxy checks each node every second: after a few, every node must be up
        time.sleep(3)
        wait_for(
            lambda: {row["status"] for row in proxy.servers().values()} == {"UP"},
            message=lambda: f"the nodes to be up: {proxy.servers()}",
            timeout=60,
        )
        failed = sum(int(row["chkfail"]) - checks[name] for name, row in proxy.servers().items())
        fault.notes.append(
            f"pg_ctl restart took {restarted} s; {failed} failed health checks, all nodes up"
        )
        self.faults.append(fault)

    def kill_rq_worker_in_destroy(self, process_id):
        """DELETE a process while S3 is paused, so that its storage job is caught in the
        middle of its first call; kill -9 the RQ worker running it."""
        cluster, storage = self.cluster, self.stack.storage
        artifacts, logs = storage_keys(self.db, process_id)
        assert logs and artifacts
        redis = cluster.redis.client
        registry = StartedJobRegistry("default", connection=redis)
        fault = Fault("kill -9 RQ worker in DestroyProcess job", time.time())
        clock = Clock()
        # Log assemblies share the queue and, caught by the pause, hold a worker until their
        # first S3 call times out (10 s): start when at most a job per worker waits, so that
        # the destroy job, enqueued right after the pause, starts within seconds. (A busy
        # run keeps the workers busy: waiting for a free one, or an idle queue, could last.)
        queue = Queue("default", connection=redis)
        try:
            wait_for(
                lambda: len(queue.get_job_ids()) <= len(cluster.workers),
                message=lambda: "the RQ queue to catch up",
                timeout=90,
            )
        except AssertionError:
            # The queue never caught up during the run: the fault is reported as not exercised
            fault.notes.append("not exercised: the RQ queue never caught up")
            self.faults.append(fault)
            self.api.call("DELETE", f"process/{process_id}/", expected=204)
            return
        cluster.s3.pause()
        try:
            self.api.call("DELETE", f"process/{process_id}/", expected=204)

            def destroy_jobs():
                # Other jobs wait for S3 too (the assembly of finished tasks' logs)
                ids = registry.get_job_ids(cleanup=False)
                jobs = Job.fetch_many(ids, connection=redis)
                return [job.id for job in jobs if job and job.func_name == DESTROY_JOB]

            # Log assemblies caught by the pause hold the RQ workers until their S3 call
            # times out (10 s each): the destroy job may wait for a few of them
            [job_id] = wait_for(
                destroy_jobs,
                message=lambda: "the storage job to start\n" + cluster.logs(),
                timeout=180,
            )
            busy = wait_for(
                lambda: [
                    w for w in Worker.all(connection=redis) if w.get_current_job_id() == job_id
                ],
                message=lambda: "a worker to take the job",
            )
            [victim] = [name for name, s in cluster.workers.items() if s.pid == busy[0].pid]
            # The job is waiting for S3 in its work horse
            time.sleep(0.5)
            kill_machine(cluster.workers[victim])
        finally:
            cluster.s3.resume()
        fault.detected = clock()
        # Its service manager starts it again (Restart=always)
        cluster.start_worker(victim)

        def all_gone():
            return not present(storage, ARTIFACTS_BUCKET, artifacts) and not present(
                storage, LOGS_BUCKET, logs
            )

        wait_for(all_gone, message=lambda: "the job to run again\n" + cluster.logs(), timeout=90)
        fault.recovered = clock()
        job = Job.fetch(job_id, connection=redis)
        assert job.get_status() == "finished"
        assert job.retries_left == JOB_RETRIES - 1
        fault.notes.append(
            f"worker {victim} killed with the job at S3; retried after {fault.recovered} s, "
            f"{len(artifacts) + len(logs)} objects deleted"
        )
        self.faults.append(fault)
        self.stack.api.call("GET", f"process/{process_id}/", expected=404)

    def kill_agent_host(self, host):
        """Kill the agents of `host` while they run tasks; new ones take over."""
        cluster, db = self.cluster, self.db
        names = [name for name, (h, _agent) in cluster.agents.items() if h is host]
        agents = [cluster.agents[name][1] for name in names]

        def held(states):
            return db.rows(
                "SELECT t.id::text, t.process_id::text FROM ponos_task t JOIN ponos_agent a "
                "ON a.id = t.agent_id WHERE a.hostname = ANY(%s::text[]) "
                "AND t.state = ANY(%s::text[])",
                "{" + ",".join(names) + "}",
                "{" + ",".join(states) + "}",
            )

        wait_for(
            lambda: held(["running"]),
            message=lambda: f"the agents of {host.name} to run a task",
            timeout=60,
        )
        # An agent starts a command before it reports it running: paused agents whose
        # pending tasks left no marker never started them, and killing them then loses no
        # start the API does not know about.
        for _attempt in range(50):
            for agent in agents:
                os.kill(agent.pid, signal.SIGSTOP)
            # From now on they ping no more: the dead-agent rule counts from here
            silent = Fault(f"kill the agents of {host.name}", time.time())
            clock = Clock()
            time.sleep(0.5)
            started = [
                task_id
                for task_id, process_id in held(["pending"])
                if self.work.runs(process_id)[task_id]
            ]
            if not started and held(["running"]):
                break
            for agent in agents:
                os.kill(agent.pid, signal.SIGCONT)
            time.sleep(0.3)
        else:
            raise AssertionError(f"no moment to kill the agents of {host.name}")
        running, pending = held(["running"]), held(["pending"])
        fault = silent
        for agent in agents:
            kill_machine(agent)

        # The dead-agent rule, applied by the polls of the other agents
        wait_for(
            lambda: not held(sorted(ACTIVE)),
            message=lambda: f"the tasks of {names} to be taken back",
            timeout=AGENT_TIMEOUT + 30,
        )
        fault.detected = clock()
        errored = [task_id for task_id, _p in running]
        states = dict(
            db.rows("SELECT id::text, state FROM ponos_task WHERE id = ANY(%s::uuid[])",
                    "{" + ",".join(errored + [t for t, _p in pending]) + "}")
        )  # fmt: skip
        assert all(states[task_id] == "error" for task_id in errored), states
        # The rule waited for the timeout after the agent's last ping, not a moment less
        waits = db.rows(
            "SELECT extract(epoch FROM t.finished - a.last_ping) FROM ponos_task t "
            "JOIN ponos_agent a ON a.id = t.agent_id WHERE t.id = ANY(%s::uuid[])",
            "{" + ",".join(errored) + "}",
        )
        assert all(wait >= AGENT_TIMEOUT for (wait,) in waits), waits
        # New agents on that host, under the same names
        restarted = time.time()
        farms = {row[0]: row[1] for row in db.rows(
            "SELECT hostname, farm_id::text FROM ponos_agent WHERE hostname = ANY(%s::text[])",
            "{" + ",".join(names) + "}",
        )}  # fmt: skip
        seeds = {self.stack.farm_id: self.stack.seed, self.farm_b: self.seed_b}
        for name in names:
            cluster.start_agent(host, name, farms[name], seeds[farms[name]])
        wait_for(
            lambda: self.count(
                "SELECT count(*) FROM ponos_task t JOIN ponos_agent a ON a.id = t.agent_id "
                "WHERE a.hostname = ANY(%s::text[]) AND t.started > to_timestamp(%s)",
                "{" + ",".join(names) + "}",
                restarted,
            ),
            message=lambda: f"the new agents of {host.name} to start a task\n" + cluster.logs(),
            timeout=60,
        )
        fault.recovered = clock()
        # Their errored tasks run again, as a user would restart them
        for task_id in errored:
            self.api.post(f"task/{task_id}/restart/")
        fault.notes.append(
            f"running tasks errored: {len(running)}, pending ones requeued: {len(pending)}; "
            f"the new agents took work at {fault.recovered} s"
        )
        self.faults.append(fault)
        return errored

    def cleanup_on_one_node(self, process_id):
        """`cleanup` (its unit's command, with a node's settings) of an expired process,
        while the agents poll the nodes."""
        cluster, db, storage = self.cluster, self.db, self.stack.storage
        artifacts, logs = storage_keys(db, process_id)
        tasks = self.count("SELECT count(*) FROM ponos_task WHERE process_id = %s", process_id)
        expired = db.execute(
            "UPDATE ponos_task SET expiry = now() - interval '1 day' WHERE process_id = %s",
            process_id,
        )
        assert expired == tasks
        unit = Unit("arkindex-cleanup.service")
        argv, env = unit.command(
            runtime=cluster.runtime, env=cluster.node_env(), paths=cluster.paths
        )
        fault = Fault("cleanup on api1's settings", time.time())
        clock = Clock()
        result = subprocess.run(
            argv,
            env=env,
            cwd=unit.working_directory(cluster.paths),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        fault.detected = fault.recovered = clock()
        assert self.count("SELECT count(*) FROM ponos_task WHERE process_id = %s", process_id) == 0
        assert not present(storage, ARTIFACTS_BUCKET, artifacts)
        assert not present(storage, LOGS_BUCKET, logs)
        process = self.stack.process(process_id)
        assert (process["state"], process["tasks"]) == ("completed", [])
        [deleted] = re.findall(r"Deleted: ([^.]*)\.", result.stdout)
        fault.notes.append(f"an expired process: {deleted}; the agents kept polling")
        self.faults.append(fault)


def test_twenty_processes_survive_faults_and_every_task_runs_exactly_once(cluster, tmp_path):
    began = time.monotonic()
    baseline = cluster.proxy.servers()
    markers = tmp_path / "markers"
    markers.mkdir()
    run = Run(cluster, markers)
    stack, db, work = cluster.stack, run.db, run.work
    farm_a, seed_a = stack.farm_id, stack.seed
    run.farm_b, run.seed_b = farm_b, seed_b = stack.create_farm("Second farm")
    for host in cluster.hosts:
        cluster.start_agent(host, f"h{host.index + 1}-a", farm_a, seed_a)
        cluster.start_agent(host, f"h{host.index + 1}-b", farm_b, seed_b)
    wait_for(
        lambda: run.count("SELECT count(*) FROM ponos_agent WHERE hostname ~ '^h[0-9]-[ab]$'") == 6,
        message=lambda: "the agents to register\n" + cluster.logs(),
    )

    for index in range(SMALL_PROCESSES):
        farm = farm_b if index % 2 == 0 else farm_a
        work.start(f"Small {index}", SMALL_DAG, farm=farm, chunks=2 if index % 3 == 0 else 1)
    big = work.start("Big", big_dag(BIG_WIDTH), farm=farm_a, chunks=BIG_CHUNKS)
    assert run.count("SELECT count(*) FROM ponos_task WHERE process_id = %s", big) == BIG_TASKS

    wait_for(lambda: run.completed(big) >= 100, message=lambda: "the big process to progress",
             timeout=120)  # fmt: skip
    run.kill_api_node("api2")
    run.restart_database()
    destroyed = wait_for(run.finished_small, message=lambda: "a small process to finish")
    destroyed_runs = work.runs(destroyed)
    destroyed_tasks = {t["id"] for t in stack.process(destroyed)["tasks"]}
    run.kill_rq_worker_in_destroy(destroyed)
    restarted = run.kill_agent_host(cluster.hosts[2])
    cleaned = wait_for(
        lambda: run.finished_small(exclude={destroyed}),
        message=lambda: "another small process to finish",
    )
    cleaned_runs = work.runs(cleaned)
    cleaned_tasks = {t["id"] for t in stack.process(cleaned)["tasks"]}
    run.cleanup_on_one_node(cleaned)
    assert run.completed(big) < BIG_TASKS, "the big process ended before the last fault"

    wait_for(
        lambda: run.active_tasks() == 0,
        message=lambda: f"every task to end: {run.active_tasks()} active\n{cluster.logs()}",
        timeout=RUN_TIMEOUT,
    )
    duration = time.monotonic() - began

    # Every process ended in the state its tasks imply: completed, errored tasks restarted
    total = once = 0
    for process_id, name in work.processes.items():
        if process_id == destroyed:
            continue
        process = stack.process(process_id)
        runs = work.runs(process_id)
        if process_id == cleaned:
            assert process["tasks"] == []
            tasks, runs = cleaned_tasks, cleaned_runs
        else:
            assert process["state"] == expected_state(process["tasks"]) == "completed", name
            assert process["finished"] is not None
            tasks = {task["id"] for task in process["tasks"]}
            # Nothing is left waiting: a task restarted replaced the errored one
            assert {t["state"] for t in process["tasks"]} <= {"completed", "error"}
            assert {t["id"] for t in process["tasks"] if t["state"] == "error"} <= set(restarted)
        # Exactly once: every task of the process started once, and nothing else did
        assert set(runs) == tasks, name
        assert set(runs.values()) == {1}, {task: n for task, n in runs.items() if n != 1}
        total += len(tasks)
        once += sum(1 for n in runs.values() if n == 1)
    assert set(destroyed_runs) == destroyed_tasks and set(destroyed_runs.values()) == {1}
    total += len(destroyed_tasks)
    once += len(destroyed_tasks)

    # Logs are assembled by RQ jobs once their tasks end: the last ones catch up
    wait_for(
        lambda: run.count("SELECT count(*) FROM ponos_logpiece") == 0,
        message=lambda: "the logs to be assembled\n" + cluster.logs(),
        timeout=120,
    )
    # No storage object is left for a task that no longer exists, and no piece of a log
    task_ids = {row[0] for row in db.rows("SELECT id::text FROM ponos_task")}
    for bucket in (ARTIFACTS_BUCKET, LOGS_BUCKET):
        keys = [info.key for info in stack.storage.list_objects(bucket)]
        pieces = [key for key in keys if ".log.d/" in key]
        assert pieces == [], f"{len(pieces)} pieces of logs left in {bucket}: {pieces[:5]}"
        orphans = [key for key in keys if key.split("/")[0].removesuffix(".log") not in task_ids]
        assert orphans == [], f"{len(orphans)} orphan objects in {bucket}: {orphans[:5]}"

    # No 5xx outside the faults' windows, for the agents (the proxy's log) and the test
    errors = [entry for entry in cluster.proxy.requests() if entry[2] >= 500 or entry[2] < 0]
    outside = [entry for entry in errors if not within(entry[0], run.faults)]
    client_outside = [f for f in stack.api.failures if not within(f[0], run.faults)]
    print(
        report(
            tasks=[
                ("in the 20 processes", total),
                ("ran exactly once", once),
                ("ran twice or more", total - once),
                ("restarted after the dead-agent rule", len(restarted)),
                ("deleted by DestroyProcess", len(destroyed_tasks)),
                ("deleted by cleanup", len(cleaned_tasks)),
            ],
            servers=cluster.proxy.servers(),
            baseline=baseline,
            faults=run.faults,
            errors=errors,
            outside=len(outside) + len(client_outside),
            duration=duration,
        )
    )
    assert outside == [], outside[:10]
    assert client_outside == [], client_outside[:10]
