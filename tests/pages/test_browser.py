"""The pages in a real browser: headless Chromium driven by Selenium, against the whole
installation of the end-to-end tests (gunicorn, an agent, SQLite and local storage) with the
demo of `make run`.

Screenshots of every page go to var/screenshots/ (printed at the end of the test).
"""

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
    visit.submit("form[data-when=active] button")
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
