"""`make run` on a fresh var/ directory and a free port, twice: it serves the API, runs the
demo with its agent, and stops everything on Ctrl-C."""

import contextlib
import os
import signal
import stat
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import Service, clean_environ, free_port, wait_for
from tests.e2e.stack import states, tasks_by_slug
from tests.ponos.agent.helpers import is_alive


def default_sigint():
    # Like a terminal's shell: the script must be able to trap Ctrl-C even when the tests
    # themselves run with SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


METRICS_TOKEN = "make-run-metrics-token"


class MakeRun:
    def __init__(self, var, log_path):
        self.var = var
        self.url = f"http://127.0.0.1:{free_port()}"
        self.service = Service(
            "make run",
            ["make", "--no-print-directory", "run"],
            env=clean_environ(
                VAR_DIR=var,
                PORT=self.url.rpartition(":")[2],
                AGENT_POLL_INTERVAL="0.5",
                ARKINDEX_METRICS_TOKEN=METRICS_TOKEN,
            ),
            log_path=log_path,
            preexec_fn=default_sigint,
        )

    def wait_ready(self):
        # A fresh clone also installs the virtualenv first: leave time for it
        wait_for(
            lambda: "Press Ctrl-C to stop." in self.service.output() or not self.service.alive(),
            timeout=300,
            message=self.service.tail,
        )
        assert self.service.alive(), self.service.tail()
        [self.token] = self.lines("API token: ")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {self.token}"
        self.pids = wait_for(self.read_pids, message=self.service.tail)

    def read_pids(self):
        """The PIDs of the server and the agent, once both wrote them."""
        files = [self.var / "server.pid", self.var / "agent" / "agent.pid"]
        with contextlib.suppress(FileNotFoundError, ValueError):
            return [int(path.read_text()) for path in files]

    def lines(self, prefix):
        return [
            line.removeprefix(prefix)
            for line in self.service.output().splitlines()
            if line.startswith(prefix)
        ]

    def get(self, path, expected=200):
        response = self.session.get(f"{self.url}{path}", timeout=10)
        assert response.status_code == expected, (path, response.status_code, response.text)
        return response

    def metrics(self):
        """{(name, frozenset of labels): value} of a scrape of /metrics."""
        response = requests.get(
            f"{self.url}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    def wait_finished(self, process_id):
        def finished():
            body = self.get(f"/api/v1/process/{process_id}/").json()
            return body if body["finished"] else None

        return wait_for(finished, message=self.service.tail)

    def demo_processes(self):
        """The demo processes, finished, by name."""
        listed = self.get("/api/v1/process/").json()["results"]
        return {process["name"]: self.wait_finished(process["id"]) for process in listed}

    def interrupt(self):
        """Ctrl-C, as a terminal sends it: to the whole foreground process group."""
        os.killpg(self.service.pid, signal.SIGINT)
        status = self.service.process.wait(60)
        assert status in (-signal.SIGINT, 128 + signal.SIGINT, 2), self.service.tail()
        output = self.service.output()
        assert "Stopping the agent...\n" in output
        # The agent's own lines went to its log file, named by the banner; it stopped
        # before the server was asked to.
        assert f"  Agent log: {self.var}/agent.log\n" in output
        assert "Agent stopped" in (self.var / "agent.log").read_text()
        assert "Agent stopped" not in output
        assert output.index("Stopping the agent...") < output.index("Stopping the server...")
        assert "Stopped.\n" in output
        for pid in self.pids:
            assert not is_alive(pid), f"process {pid} survived\n{self.service.tail()}"
        with contextlib.suppress(requests.ConnectionError):
            requests.get(f"{self.url}/health/", timeout=2)
            raise AssertionError("The server still answers")

    def kill_leftovers(self):
        """Leave no process behind a failed test: the children run in their own sessions."""
        self.service.kill()
        for pid in self.read_pids() or []:
            # Only if the PID still names one of ours: a PID file can outlive its process
            with contextlib.suppress(OSError):
                if str(self.var).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def make_run(var, log_path):
    run = MakeRun(var, log_path)
    try:
        run.wait_ready()
        yield run
    finally:
        run.kill_leftovers()


def test_make_run_serves_the_api_runs_the_demo_and_stops_on_ctrl_c_and_runs_again(tmp_path):
    var = tmp_path / "var"

    with make_run(var, tmp_path / "first.log") as first:
        assert first.lines("Bootstrap done: ") == ["7 created, 0 reused."]
        [admin] = first.lines("Superuser: ")
        password = (var / "admin-password").read_text().strip()
        assert admin == f"admin@localhost (created); its password is in {var}/admin-password"
        for name in ("secret-key", "admin-password", "agent.yml"):
            assert stat.S_IMODE((var / name).stat().st_mode) == 0o600, name

        # The pages' address comes first among the addresses, and answers with its login
        urls = [
            line.split()[1]
            for line in first.service.output().splitlines()
            if line.startswith("  ") and "http://" in line
        ]
        assert urls[0] == f"{first.url}/ui/"
        login_page = requests.get(urls[0], timeout=10)
        assert login_page.url == f"{first.url}/ui/login/?next=/ui/"
        assert 'name="password"' in login_page.text

        # The schema, the docs page with its static files, the admin: without debug mode
        schema = first.get("/api/v1/openapi/?format=json").json()
        assert "/api/v1/process/{id}/" in schema["paths"]
        docs = first.get("/api/v1/docs/").text
        bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
        assert f'src="{bundle}"' in docs
        assert "SwaggerUIBundle" in first.get(bundle).text
        assert (
            first.get("/static/admin/css/base.css").headers["Content-Type"].startswith("text/css")
        )
        login = requests.post(
            f"{first.url}/api/v1/user/login/",
            json={"email": "admin@localhost", "password": password},
            timeout=10,
        )
        # Login issues a token of its own, which works alongside the printed one
        login_token = login.json()["auth_token"]
        assert login_token != first.token
        assert (
            requests.get(
                f"{first.url}/api/v1/user/",
                headers={"Authorization": f"Token {login_token}"},
                timeout=10,
            ).json()["email"]
            == "admin@localhost"
        )
        # Errors answer in JSON, not in a debug page
        assert first.get("/api/v1/process/not-an-id/", expected=404).json() == {
            "type": "client_error",
            "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
        }

        # The agent ran the demo: the reader read the writer's artifact
        demo = first.demo_processes()
        assert {name: process["state"] for name, process in demo.items()} == {
            "Demo process": "completed",
            "Demo process with a failure": "failed",
            "Demo process with worker activities": "completed",
        }
        # The worker of the activities process transcribed each page of the demo folder
        # once, with plain HTTP calls, in two chunks.
        activities = demo["Demo process with worker activities"]
        counts = first.get(f"/api/v1/process/{activities['id']}/activity-counts/").json()
        assert [
            (run["queued"], run["started"], run["processed"], run["error"])
            for run in counts["worker_runs"]
        ] == [(0, 0, 12, 0)]
        assert len(activities["tasks"]) == 2
        assert states(demo["Demo process with a failure"]) == {
            "demo": "completed",
            "demo_2": "failed",
            "demo_3": "unscheduled",
        }
        tasks = tasks_by_slug(demo["Demo process"])
        reader = first.get(f"/api/v1/task/{tasks['demo_2']['id']}/").json()
        assert (
            f"Read demo/greeting.txt: Hello from task {tasks['demo']['id']} of process "
            f"{demo['Demo process']['id']}\n"
        ) in reader["logs"]
        failer = tasks_by_slug(demo["Demo process with a failure"])["demo_2"]
        assert "fails on purpose" in first.get(f"/api/v1/task/{failer['id']}/").json()["logs"]

        # The scrape sums the requests of both gunicorn workers: every list is counted once,
        # whichever worker answered it; the local agent is active on its farm.
        listed = frozenset({"operation": "ListProcesses", "status": "200"}.items())
        before = first.metrics()[("arkindex_requests_total", listed)]
        for _ in range(12):
            first.get("/api/v1/process/")
        after = first.metrics()
        assert after[("arkindex_requests_total", listed)] == before + 12
        agents = {
            dict(labels)["status"]: value
            for (name, labels), value in after.items()
            if name == "arkindex_agents"
        }
        assert agents == {"active": 1, "inactive": 0, "disabled": 0}

        first.interrupt()

    secret_key = (var / "secret-key").read_text()
    with make_run(var, tmp_path / "second.log") as second:
        # Everything is reused, and the demo is not run again
        assert second.lines("Bootstrap done: ") == ["0 created, 7 reused."]
        # The printed token is the one kept, owner-only, in a file of its own
        assert second.token == first.token == (var / "admin-token").read_text().strip()
        assert stat.S_IMODE((var / "admin-token").stat().st_mode) == 0o600
        assert (var / "secret-key").read_text() == secret_key
        assert second.demo_processes() == demo
        second.interrupt()
