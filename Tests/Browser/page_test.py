#!/usr/bin/env python3
"""Baton's web page in a real headless Chromium, against the real `baton` binary.

    scripts/browser-setup.sh
    BATON_BINARY=.build/debug/baton .venv-test/bin/python Tests/Browser/page_test.py

`swift test` runs it (BatonProcessTests/BrowserTests) once scripts/browser-setup.sh has
installed Debian's chromium and chromium-driver and Selenium in .venv-test/. This script
starts `baton serve` itself, and again after it exits 75, on the same port, so that it
decides when the page sees no process at all. Turns are run by gated-agent.py, whose
long turn ends when the test says so: nothing here depends on timing. Every wait is on a
condition, with a generous timeout that fails the test.

A screenshot of each step goes to test-artifacts/browser/ (or $BATON_BROWSER_ARTIFACTS).
Ends with "browser: N passed, M failed"; exits 1 if any scenario failed.
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = pathlib.Path(os.environ.get("BATON_BROWSER_ARTIFACTS", ROOT / "test-artifacts" / "browser"))
WAIT = 60  # seconds any one condition may take before the test fails
TOKEN = "browser-test-token-0123456789"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Baton:
    """`baton serve` processes sharing one configuration, port and store."""

    def __init__(self, directory, extra_yaml=""):
        self.directory = pathlib.Path(directory)
        self.port = free_port()
        self.gate = self.directory / "gate"
        os.mkfifo(self.gate)
        self.config = self.directory / "baton.yaml"
        agent = [sys.executable, str(HERE / "gated-agent.py"), str(self.gate)]
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"state_directory: {self.directory / 'state'}\n"
            f"runtime_directory: {self.directory / 'run'}\n"
            "admins: [alice]\n"
            "drain:\n  timeout: 300\n"
            f"agent:\n  kind: exec\n  command: {json.dumps(agent)}\n"
            + extra_yaml
        )
        self.process = None
        self.count = 0
        self.url = f"http://127.0.0.1:{self.port}/"

    def start(self):
        """Starts a process and waits for its READY=1 (sd_notify on a socket of ours)."""
        self.count += 1
        notify_path = self.directory / f"notify-{self.count}.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.settimeout(1)
        environment = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("BATON_", "LISTEN_", "WATCHDOG_")) and key != "NOTIFY_SOCKET"
        }
        environment["NOTIFY_SOCKET"] = str(notify_path)
        self.log = self.directory / f"serve-{self.count}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [os.environ["BATON_BINARY"], "serve", "--config", str(self.config)],
                env=environment, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + WAIT
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"baton serve exited {self.process.returncode} before READY=1\n{self.logs()}")
                try:
                    datagram = notify.recv(4096)
                except socket.timeout:
                    continue
                if b"READY=1" in datagram.split(b"\n"):
                    return self.process
            raise AssertionError(f"no READY=1 from baton serve within {WAIT} s\n{self.logs()}")
        finally:
            notify.close()

    def wait_exit(self):
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"baton serve (pid {self.process.pid}) did not exit within {WAIT} s\n{self.logs()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.wait_exit()
        return self.process.returncode if self.process else None

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def open_gate(self):
        """Ends the turn waiting on the gate: opening the FIFO for writing waits for that turn."""
        opened = threading.Event()

        def release():
            with open(self.gate, "wb"):
                opened.set()

        threading.Thread(target=release, daemon=True).start()
        if not opened.wait(WAIT):
            raise AssertionError(f"no turn waited on the gate within {WAIT} s")

    def logs(self):
        return "".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}" for path in sorted(self.directory.glob("serve-*.log")))


class Page:
    """The page in Chromium, and what the test reads off it."""

    def __init__(self, driver):
        self.driver = driver

    def wait(self, what, condition, timeout=WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None

    def js(self, script, *arguments):
        return self.driver.execute_script(script, *arguments)

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def type(self, selector, text):
        field = self.find(selector)
        field.clear()
        field.send_keys(text)
        return field

    def send(self, text):
        """Types a message and sends it with Enter, as a keyboard user would."""
        self.type("#text", text).send_keys(Keys.ENTER)

    def state_of(self, text):
        return self.js(
            "const item = [...document.querySelectorAll('#log li.mine')]"
            ".find((li) => li.querySelector('.text').textContent === arguments[0]);"
            "return item ? item.dataset.state : null;", text)

    def detail_of(self, text):
        return self.js(
            "const item = [...document.querySelectorAll('#log li.mine')]"
            ".find((li) => li.querySelector('.text').textContent === arguments[0]);"
            "return item ? item.querySelector('.detail').textContent : null;", text)

    def wait_state(self, text, state):
        self.wait(f'"{text}" to be {state} (it is {self.state_of(text)})', lambda: self.state_of(text) == state)

    def log_items(self):
        """The chat log as (kind, text) pairs, in order."""
        return self.js(
            "return [...document.querySelectorAll('#log > li')].map((li) => ["
            "li.classList.contains('mine') ? 'mine' : li.classList.contains('reply') ? 'reply'"
            ": li.classList.contains('notice') ? 'notice:' + li.dataset.kind : li.dataset.kind || li.className,"
            "(li.querySelector('.text') || li).textContent]);")

    def text(self, selector):
        return self.find(selector).text

    def gateway_state(self):
        return self.find("#state").get_attribute("data-state")

    def banner(self):
        return self.js("const b = document.getElementById('banner'); return b.hidden ? null : b.dataset.kind;")

    def shot(self, name):
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        print(f"browser: screenshot {path}", flush=True)

    def console_errors(self):
        """Console messages that point at the page itself: script errors and CSP violations.

        Failed requests while no process listens are expected during a restart."""
        entries = self.driver.get_log("browser")
        return [e["message"] for e in entries
                if e["level"] == "SEVERE" and ("Content Security Policy" in e["message"] or "Uncaught" in e["message"])]


def chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--force-prefers-reduced-motion"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def a_restart_mid_conversation_costs_the_page_nothing(driver, directory):
    baton = Baton(directory)
    try:
        baton.start()
        page = Page(driver)
        driver.get(baton.url)

        # Session and user typed in, keyboard only: Enter opens the session.
        page.type("#session", "browser")
        page.type("#user", "alice").send_keys(Keys.ENTER)
        page.wait("the event stream to be live", lambda: page.find("#link").get_attribute("data-state") == "live")
        page.wait("the gateway to show ready", lambda: page.gateway_state() == "ready")
        page.wait("the Restart button for the admin", lambda: page.find("#restart").is_displayed())
        loaded = page.js("return window.batonPage.id")
        first_instance = page.text("#instance")

        page.send("hello")
        page.wait_state("hello", "answered")
        page.wait("the reply", lambda: ("reply", "Agent heard alice: hello") in map(tuple, page.log_items()))
        page.shot("01-reply")

        # A turn that lasts until the gate opens; then Restart, as the admin.
        page.send("wait for the gate")
        page.wait_state("wait for the gate", "accepted")
        page.find("#restart").click()
        page.wait("the gateway to show draining", lambda: page.gateway_state() == "draining")
        page.wait("the draining banner", lambda: page.banner() == "draining")
        page.wait_state("/restart", "done")
        assert "1 in flight" in page.text("#drain"), page.text("#drain")
        page.shot("02-draining")

        page.send("sent during the drain")
        page.wait_state("sent during the drain", "queued")
        page.wait("the draining notice about it", lambda: any(
            kind == "notice:draining" and "queued for the next process" in text for kind, text in page.log_items()))
        page.wait("it to be marked as waiting for the next process",
                  lambda: page.detail_of("sent during the drain") == "for the next process")
        page.shot("03-queued")

        # The long turn ends; the drain is over; the process says goodbye and exits 75.
        baton.open_gate()
        page.wait_state("wait for the gate", "answered")
        status = baton.wait_exit()
        assert status == 75, f"baton serve exited {status}, not 75\n{baton.logs()}"
        page.wait("the restarting banner", lambda: page.banner() == "restarting")
        page.wait("the gateway to show restarting", lambda: page.gateway_state() == "offline")
        assert "Baton is restarting" in page.text("#banner"), page.text("#banner")
        assert page.state_of("sent during the drain") == "queued", "the queued message stays visible and queued"
        page.shot("04-restarting")

        # The next process, on the same port: the page carries on by itself.
        baton.start()
        page.wait_state("sent during the drain", "answered")
        page.wait("the restarting banner to go", lambda: page.banner() in (None, "restarted"))
        page.wait("the new instance", lambda: page.text("#instance") != first_instance)
        assert page.find("#restarted").is_displayed(), "the instance is marked restarted"
        page.wait("the gateway to show ready", lambda: page.gateway_state() == "ready")
        page.wait("the link to be live again", lambda: page.find("#link").get_attribute("data-state") == "live")
        page.shot("05-answered-after-restart")

        assert page.js("return window.batonPage.id") == loaded, "the page was reloaded"
        items = page.log_items()
        order = [(kind, text) for kind, text in items if kind in ("reply", "goodbye", "notice:restarted")]
        expected = [
            ("reply", "Agent heard alice: hello"),
            ("reply", "Agent heard alice: wait for the gate"),
            ("goodbye", None),
            ("notice:restarted", None),
            ("reply", "Agent heard alice: sent during the drain"),
        ]
        assert [kind for kind, _ in order] == [kind for kind, _ in expected], f"log out of order: {items}"
        for (kind, text), (_, want) in zip(order, expected):
            assert want is None or text == want, f"{kind}: {text!r}, wanted {want!r}: {items}"

        # Phone width, dark: nothing wider than the window.
        driver.set_window_size(390, 844)
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        page.wait("the dark colours", lambda: page.js(
            "return getComputedStyle(document.body).backgroundColor") == "rgb(17, 20, 24)")
        overflow = page.js("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than a phone"
        page.shot("06-phone-dark")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        driver.set_window_size(1280, 900)

        errors = page.console_errors()
        assert not errors, f"the console shows errors: {errors}"
        status = baton.stop()
        assert status == 0, f"baton serve exited {status} after SIGTERM\n{baton.logs()}"
    except BaseException:
        print(baton.logs(), file=sys.stderr)
        raise
    finally:
        baton.kill()


def with_api_tokens_the_page_asks_once_per_tab(driver, directory):
    baton = Baton(directory, f"api_tokens: [{TOKEN}]\n")
    try:
        baton.start()
        page = Page(driver)
        driver.get(baton.url + "?session=tokens&user=bob")
        page.wait("the token dialog", lambda: page.find("#token-dialog").get_attribute("open") is not None)
        page.shot("07-token-dialog")
        page.type("#token", "not-the-token-at-all")
        page.find("#token").send_keys(Keys.ENTER)
        page.wait("the token dialog again, for a refused token", lambda: "not accepted" in page.text("#token-why"))
        page.type("#token", TOKEN)
        page.find("#token").send_keys(Keys.ENTER)
        page.wait("the gateway to show ready", lambda: page.gateway_state() == "ready")
        assert page.find("#token-dialog").get_attribute("open") is None
        assert not page.find("#restart").is_displayed(), "bob is no admin"
        page.send("hello with a token")
        page.wait_state("hello with a token", "answered")
        page.shot("08-token-answered")

        # Kept for the tab: a reload asks nothing.
        driver.refresh()
        page.wait("the gateway to show ready after a reload", lambda: page.gateway_state() == "ready")
        page.wait("the replayed reply", lambda: any(
            kind == "reply" and text == "Agent heard bob: hello with a token" for kind, text in page.log_items()))
        assert page.find("#token-dialog").get_attribute("open") is None, "the token was asked for again"
        assert page.js("return sessionStorage.getItem('baton.token')") == TOKEN
        assert page.js("return localStorage.getItem('baton.token')") is None, "the token outlives the tab"
        errors = page.console_errors()
        assert not errors, f"the console shows errors: {errors}"
        assert baton.stop() == 0
    except BaseException:
        print(baton.logs(), file=sys.stderr)
        raise
    finally:
        baton.kill()


def an_event_cut_off_midway_is_asked_for_again(driver, directory):
    """The page's stream reader counts an event's id for a resume only once the event is
    whole: a connection lost between an event's `id:` line and its end resumes before it."""
    baton = Baton(directory)
    try:
        baton.start()
        page = Page(driver)
        driver.get(baton.url + "?session=cut&user=bob")
        page.wait("the gateway to show ready", lambda: page.gateway_state() == "ready")
        outcome = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            import('/api.js').then(async ({ EventStream }) => {
              const seen = [];
              const stream = new EventStream(null, '/unused', { onEvent: (event) => seen.push(event.id) });
              const cut = 'id: 4\\nevent: reply\\ndata: {"text":"whole"}\\n\\nid: 5\\nevent: reply\\ndata: {"te';
              await stream.read(new Blob([cut]).stream());
              done({ resumeAfter: stream.lastEventID, seen });
            }).catch((error) => done({ error: String(error) }));
        """)
        assert outcome == {"resumeAfter": "4", "seen": ["4"]}, outcome
        assert baton.stop() == 0
    except BaseException:
        print(baton.logs(), file=sys.stderr)
        raise
    finally:
        baton.kill()


SCENARIOS = [
    a_restart_mid_conversation_costs_the_page_nothing,
    with_api_tokens_the_page_asks_once_per_tab,
    an_event_cut_off_midway_is_asked_for_again,
]


def main():
    if "BATON_BINARY" not in os.environ:
        sys.exit("page_test: set BATON_BINARY to the baton executable")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    print(f"browser: screenshots in {ARTIFACTS}", flush=True)
    passed = failed = 0
    for scenario in SCENARIOS:
        name = scenario.__name__
        driver = chromium()
        try:
            with tempfile.TemporaryDirectory(prefix="baton-browser-") as directory:
                scenario(driver, directory)
            passed += 1
            print(f"browser: passed {name}", flush=True)
        except Exception:
            failed += 1
            try:
                driver.save_screenshot(str(ARTIFACTS / f"failed-{name}.png"))
            except Exception:
                pass
            print(f"browser: FAILED {name}\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        finally:
            driver.quit()
    print(f"browser: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
