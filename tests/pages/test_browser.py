"""The pages in a real browser: headless Chromium driven by Selenium, against the whole
installation of the end-to-end tests (gunicorn, an agent, SQLite and local storage) with the
demo of `make run`.

Screenshots of every page go to var/screenshots/ (printed at the end of the test).
"""

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.helpers import ROOT, TIMEOUT, manage
from tests.e2e.stack import Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "var" / "screenshots"
ADMIN_EMAIL = "admin@localhost"
ADMIN_PASSWORD = "browser-test-password"
OUTSIDER_EMAIL = "oscar@example.com"
OUTSIDER_PASSWORD = "outsider-password"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
]
# Ignores SIGTERM, so that a stopped task stays `stopping` until the agent's grace period
# (1 s in these tests) ends with a SIGKILL: the pages have time to show both states.
SLEEP = """\
trap '' TERM
echo "sleeping"
sleep 60
"""
CREATE_OUTSIDER = (
    "from arkindex.users.models import User; "
    f"User.objects.create_user({OUTSIDER_EMAIL!r}, {OUTSIDER_PASSWORD!r}, display_name='Oscar')"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The installation, with the demo of `make run` and a process that runs for a minute."""
    stack = Stack("sqlite-local", tmp_path_factory.mktemp("browser"))
    stack.env["DJANGO_SUPERUSER_PASSWORD"] = ADMIN_PASSWORD
    try:
        stack.start()
        manage(stack.env, "bootstrap")
        manage(stack.env, "shell", "-c", CREATE_OUTSIDER)
        api = stack.api
        corpus = api.post("corpus/", {"name": "Browser corpus"})["id"]
        worker = api.post("workers/", {"name": "Sleeper", "slug": "sleeper", "type": "test"})
        version = api.post(
            f"workers/{worker['id']}/versions/",
            {"docker_image": "tests/sleeper:1", "command": SLEEP},
        )
        process = api.post("process/", {"mode": "workers", "corpus": corpus, "name": "Long run"})
        api.post(f"process/{process['id']}/workers/", {"version": version["id"], "parents": []})
        api.post(f"process/{process['id']}/start/", {}, expected=200)
        stack.sleeper = process["id"]
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "The browser tests need Debian's chromium and chromium-driver (make install)."
    )
    profile = tempfile.mkdtemp(prefix="arkindex-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(str(CHROMEDRIVER)), options=options)
    driver.console = []
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Visit:
    """One person's visit of the pages, keeping the console messages and screenshots."""

    def __init__(self, driver, site):
        self.driver = driver
        self.site = site
        self.screenshots = []
        self.confirmations = []

    def open(self, path):
        self.driver.get(self.site.url + path)
        self.read_console()

    def wait(self, condition, message, timeout=TIMEOUT):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            lambda driver: condition(), message=message() if callable(message) else message
        )

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def present(self, selector):
        try:
            return self.find(selector)
        except NoSuchElementException:
            return None

    def text(self, selector="body"):
        return self.find(selector).text

    def follow(self, element):
        """Click a link or a form's button, and wait for the next page to replace this one."""
        page = self.find("html")
        element.click()
        WebDriverWait(self.driver, TIMEOUT).until(staleness_of(page), message="the next page")
        self.wait(
            lambda: self.driver.execute_script("return document.readyState") == "complete",
            "the next page to load",
        )
        self.read_console()

    def submit(self, selector):
        self.follow(self.find(selector))

    def confirm_and_follow(self, selector):
        """Click a button that asks for a confirmation, say yes, and wait for the next page."""
        page = self.find("html")
        self.find(selector).click()
        alert = WebDriverWait(self.driver, TIMEOUT).until(
            lambda driver: driver.switch_to.alert, message="the confirmation"
        )
        self.confirmations.append(alert.text)
        alert.accept()
        WebDriverWait(self.driver, TIMEOUT).until(staleness_of(page), message="the next page")
        self.read_console()

    def at_width(self, width, name):
        """A screenshot of the page at `width` CSS pixels (a phone's at 390), and the width
        the page's content takes at that size (more than `width`: a horizontal scroll)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        try:
            self.wait(
                lambda: self.driver.execute_script("return window.innerWidth") == width,
                "the new width",
            )
            scroll_width = self.driver.execute_script(
                "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            )
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            path = SCREENSHOTS / f"{name}-{width}.png"
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": min(height, 4000), "deviceScaleFactor": 1,
                 "mobile": False},
            )  # fmt: skip
            self.driver.save_screenshot(str(path))
            self.screenshots.append(path)
            return scroll_width
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def timing(self):
        """The navigation timing of the page: server time to the last byte, DOM ready,
        bytes transferred (compressed) and decoded."""
        entry = self.driver.execute_script(
            "var e = performance.getEntriesByType('navigation')[0];"
            "return {response: e.responseEnd - e.requestStart,"
            " ready: e.domContentLoadedEventEnd - e.startTime,"
            " transferred: e.transferSize, decoded: e.decodedBodySize,"
            " encoded: e.encodedBodySize};"
        )
        return {name: round(value) for name, value in entry.items()}

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        # The whole page: as tall as its content.
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, max(1000, min(height + 200, 4000)))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1280, 1000)
        self.screenshots.append(path)
        return path

    def read_console(self):
        self.driver.console.extend(self.driver.get_log("browser"))

    def mark(self):
        """Mark the page: a reload would lose the mark."""
        self.driver.execute_script("window.arkindexMark = 'still here';")

    def marked(self):
        return self.driver.execute_script("return window.arkindexMark || null;") == "still here"

    def log_in(self, email, password):
        self.open("/")
        assert self.driver.current_url == f"{self.site.url}/ui/login/?next=/ui/"
        self.find("input[name=email]").send_keys(email)
        self.find("input[name=password]").send_keys(password)
        self.submit("form button[type=submit]")
        self.wait(lambda: self.driver.current_url == f"{self.site.url}/ui/", "the list")

    def log_out(self):
        self.submit("form.logout button")
        self.wait(lambda: "/ui/login/" in self.driver.current_url, "the login page")

    def row_state(self, name):
        for row in self.find_all("tr[data-process]"):
            if row.find_element(By.CSS_SELECTOR, "td a").text == name:
                return row.find_element(By.CSS_SELECTOR, "[data-state]").text
        return None


def test_a_person_follows_processes_in_the_browser(site, browser):
    visit = Visit(browser, site)
    demo = {process["name"]: process for process in site.api.get("process/")["results"]}
    failing = demo["Demo process with a failure"]

    # Log in, and see the demo processes, whose states refresh by themselves.
    visit.open("/ui/login/")
    visit.screenshot("login")
    visit.log_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    for name in ["Demo process", "Demo process with a failure", "Long run"]:
        assert visit.row_state(name) is not None, name
    visit.mark()
    visit.wait(
        lambda: visit.row_state("Demo process with a failure") == "failed",
        lambda: f"the failing demo to show failed: {visit.text('table')}",
    )
    visit.wait(lambda: visit.row_state("Long run") == "running", "the long run to run")
    assert visit.marked(), "the list was reloaded"
    visit.screenshot("process-list")

    # The failing demo: its failed node in the graph, then that task and its log.
    visit.follow(browser.find_element(By.LINK_TEXT, "Demo process with a failure"))
    assert browser.current_url == f"{site.url}/ui/process/{failing['id']}/"
    assert "Demo process with a failure failed" in visit.text("h1")
    failed = visit.find_all("svg a.node.state-failed")
    assert len(failed) == 1
    assert [node.get_attribute("data-slug") for node in visit.find_all("svg a.node")] == [
        "demo",
        "demo_2",
        "demo_3",
    ]
    assert "state-unscheduled" in visit.find('svg a.node[data-slug="demo_3"]').get_attribute(
        "class"
    )
    assert len(visit.find_all("svg path.edge")) == 2
    visit.screenshot("process-page")
    visit.follow(failed[0])
    assert "/ui/task/" in browser.current_url
    assert "demo_2 failed" in visit.text("h1")
    assert "This task fails on purpose" in visit.text("pre.log")
    assert "Parents\ndemo\nChildren\ndemo_3" in visit.text("dl.fields")
    visit.screenshot("task-page")

    # Stop the long run from its page, and watch the list change without a reload.
    visit.open("/ui/")
    visit.mark()
    list_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    process_tab = browser.current_window_handle
    visit.open(f"/ui/process/{site.sleeper}/")
    assert "Long run running" in visit.text("h1")
    assert not visit.find("form[data-when=inactive]").is_displayed()
    visit.confirm_and_follow("form[data-when=active] button")
    assert "The process is stopping" in visit.text(".messages")
    visit.mark()
    visit.wait(
        lambda: visit.text("[data-process-state]") == "stopped",
        lambda: f"the process page to show stopped: {visit.text('h1')}",
    )
    # The page changed by itself: Retry is offered, Stop no longer.
    assert visit.marked(), "the process page was reloaded"
    assert visit.find("form[data-when=inactive]").is_displayed()
    assert not visit.find("form[data-when=active]").is_displayed()
    assert "state-stopped" in visit.find("svg a.node").get_attribute("class")
    browser.switch_to.window(list_tab)
    visit.wait(lambda: visit.row_state("Long run") == "stopped", "the list to show stopped")
    assert visit.marked(), "the list was reloaded"

    # Retry it: a new run starts, and the list sees it running again.
    browser.switch_to.window(process_tab)
    visit.submit("form[data-when=inactive] button")
    assert "A new run of the process has started." in visit.text(".messages")
    assert visit.find("select[name=run] option[selected]").text == "run 1 (1 task)"
    visit.wait(lambda: visit.text("[data-process-state]") == "running", "run 1 to run")
    visit.screenshot("process-retried")
    # Its task's log grows on its page, which stays at the end of the log.
    visit.follow(visit.find("svg a.node"))
    assert "sleeper running" in visit.text("h1")
    visit.mark()
    visit.wait(lambda: "sleeping" in visit.text("pre.log"), "the log to show the task's output")
    assert visit.marked(), "the task page was reloaded"
    visit.screenshot("task-running")
    browser.close()
    browser.switch_to.window(list_tab)
    visit.wait(lambda: visit.row_state("Long run") == "running", "the list to show running")
    assert visit.marked(), "the list was reloaded"

    # The agents of the farm.
    visit.open("/ui/agents/")
    assert "e2e-agent active" in visit.text("table.agents")
    visit.screenshot("agents")

    # An outsider sees no process, and the failing demo's page is a 404 for them.
    visit.log_out()
    visit.log_in(OUTSIDER_EMAIL, OUTSIDER_PASSWORD)
    assert visit.find_all("tr[data-process]") == []
    assert "No process." in visit.text("table")
    visit.screenshot("outsider-list")
    visit.open(f"/ui/process/{failing['id']}/")
    assert "Not found (404)" in visit.text("h1")
    assert "Demo process" not in visit.text()
    visit.screenshot("outsider-404")
    visit.read_console()

    # No JavaScript error nor failed request, but the 404 the outsider was meant to get.
    expected = f"{site.url}/ui/process/{failing['id']}/ - Failed to load resource"
    problems = [
        entry
        for entry in browser.console
        if entry["level"] in ("SEVERE", "WARNING") and not entry["message"].startswith(expected)
    ]
    assert problems == [], problems
    print("Screenshots:", *map(str, visit.screenshots), sep="\n  ")


# A task whose log grows for a while: enough lines to scroll, more every second.
CHATTY = """\
i=0
while [ $i -lt 90 ]; do
  i=$((i + 1))
  for j in 1 2 3 4 5 6 7 8 9 10; do echo "line $i.$j of a log that keeps growing"; done
  sleep 1
done
"""


def test_a_person_works_with_a_run_of_5000_tasks(site, browser):
    """500 worker runs × 10 chunks: a task of a ninth chunk reached by clicks, a grouped
    node's bar that changes as its tasks finish, a log that stays where its reader
    scrolled, the list that shows a new process, and the pages at 1,400 and 390 px."""
    visit = Visit(browser, site)
    # The console of the visits before this one was checked by their test.
    browser.get_log("browser")
    browser.console.clear()
    browser.delete_all_cookies()
    visit.log_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    corpus = site.api.post("corpus/", {"name": "Large corpus"})["id"]
    output = manage(
        site.env, "shell", "-c",
        f"from tests.pages.large_run import build; build({ADMIN_EMAIL!r}, {corpus!r})",
        timeout=300,
    )  # fmt: skip
    process_id = json.loads(output.strip().splitlines()[-1])["process"]
    report = {}

    # The list shows a process created meanwhile, without a reload.
    visit.open("/ui/")
    visit.mark()
    created = site.api.post("process/", {"mode": "workers", "corpus": corpus, "name": "Newcomer"})
    visit.wait(
        lambda: visit.present(f'tr[data-process="{created["id"]}"]') is not None,
        "the new process in the list",
    )
    assert visit.marked(), "the list was reloaded"
    row = visit.find(f'tr[data-process="{process_id}"]')
    assert "1,500/5,000 done" in row.text
    report["list"] = visit.timing()
    scroll = {"list": visit.at_width(390, "large-list")}
    visit.at_width(1400, "large-list")

    # The process page: progress, 500 grouped nodes named after their worker runs.
    visit.open(f"/ui/process/{process_id}/")
    report["process page"] = visit.timing()
    assert "1,500 of 5,000 tasks done" in visit.text(".progress")
    nodes = visit.find_all("svg a.node.group")
    assert len(nodes) == 500
    assert len({node.get_attribute("data-slug") for node in nodes}) == 500
    scroll["process page"] = visit.at_width(390, "large-process")
    visit.at_width(1400, "large-process")
    # The graph, wider than its box, scrolls inside it; "Fit the width" scales it down.
    fit = visit.find("[data-fit-graph]")
    assert fit.is_displayed()
    box = visit.find("[data-graph]")
    svg = visit.find("[data-graph] svg")
    assert svg.size["width"] > box.size["width"]
    fit.click()
    visit.wait(lambda: svg.size["width"] <= box.size["width"], "the graph to fit its box")
    assert fit.text == "Actual size"

    # Two clicks to the ninth chunk of a worker run: its node, then its row.
    visit.follow(visit.find('svg a.node[data-slug="layout_37 ×10"]'))
    assert "worker_run=" in browser.current_url
    rows = [row.text.split()[0] for row in visit.find_all("table.tasks tbody tr")]
    assert rows == [f"layout_37_{chunk}" for chunk in range(1, 11)]
    report["filtered table"] = visit.timing()
    visit.follow(browser.find_element(By.LINK_TEXT, "layout_37_9"))
    assert visit.text("h1").startswith("layout_37_9 unscheduled")
    assert "Chunk\n9" in visit.text("dl.fields")
    report["task page"] = visit.timing()
    scroll["task page"] = visit.at_width(390, "large-task")

    # A grouped node's bar grows as its tasks finish, without a reload.
    visit.open(f"/ui/process/{process_id}/")
    visit.mark()
    node = 'svg a.node[data-slug="layout_14 ×10"]'

    def completed_width():
        return int(visit.find(f"{node} rect.bar-completed").get_attribute("width"))

    assert completed_width() == 0
    assert visit.find(f"{node} [data-detail]").text == "0/10 done · 10 running"
    finish = "from tests.pages.large_run import finish; finish({!r}, 'layout_14', {})"
    manage(site.env, "shell", "-c", finish.format(process_id, 4))
    visit.wait(lambda: completed_width() > 0, "the bar to grow")
    assert completed_width() == round(164 * 4 / 10)
    assert visit.find(f"{node} [data-detail]").text == "4/10 done · 6 running"
    assert "1,504 of 5,000" in visit.text(".progress")
    manage(site.env, "shell", "-c", finish.format(process_id, 6))
    visit.wait(lambda: completed_width() == 164, "the bar to be full")
    assert "state-completed" in visit.find(node).get_attribute("class")
    assert visit.marked(), "the process page was reloaded"

    # A log that grows: scrolled up, its reader stays there; at the bottom, it follows.
    worker = site.api.post("workers/", {"name": "Chatty", "slug": "chatty", "type": "test"})
    version = site.api.post(
        f"workers/{worker['id']}/versions/", {"docker_image": "tests/chatty:1", "command": CHATTY}
    )
    chatty = site.api.post("process/", {"mode": "workers", "corpus": corpus, "name": "Chatty"})
    site.api.post(f"process/{chatty['id']}/workers/", {"version": version["id"], "parents": []})
    site.api.post(f"process/{chatty['id']}/start/", {}, expected=200)
    [task] = site.api.get(f"process/{chatty['id']}/")["tasks"]
    visit.open(f"/ui/task/{task['id']}/")
    log = visit.find("pre.log")

    def log_state():
        return browser.execute_script(
            "var l = arguments[0]; return [l.scrollTop, l.scrollHeight, l.clientHeight,"
            " l.textContent.length, l.textContent.slice(-60)];",
            log,
        )

    visit.wait(lambda: log_state()[1] > log_state()[2] * 2, "a log taller than its box")
    # Its start time and growing duration came with the refreshes too.
    assert visit.text("[data-task-started]").endswith(" UTC")
    assert visit.text("[data-task-duration]").endswith(" s")
    browser.execute_script("arguments[0].scrollTop = 40;", log)
    before = log_state()
    visit.wait(lambda: log_state()[4] != before[4], "the log to grow", timeout=30)
    after = log_state()
    assert after[0] == 40, (before, after)
    browser.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight;", log)
    bottom = log_state()
    visit.wait(lambda: log_state()[4] != bottom[4], "the log to grow again", timeout=30)
    state = log_state()
    assert state[0] + state[2] >= state[1] - 8, state
    visit.screenshot("task-log")
    site.api.patch(f"task/{task['id']}/", {"state": "stopping"})

    # No page scrolls sideways at 390 px.
    assert all(width <= 390 for width in scroll.values()), scroll
    visit.read_console()
    problems = [entry for entry in browser.console if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == [], problems
    print("Timings at 5,000 tasks (ms, bytes):")
    for name, figures in report.items():
        print(f"  {name}: {figures}")
    print("Screenshots:", *map(str, visit.screenshots), sep="\n  ")
