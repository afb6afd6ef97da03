"""Debian's chromium, driven through Selenium and Debian's chromium-driver (nothing downloaded:
the driver's path is given), on a real `qn-bot run` process serving the web chat on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.processes import clean_env, qn_bot_command

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE = (
    Path(__file__).parents[2] / "servers" / "chromium" / "node_modules" / "axe-core" / "axe.min.js"
)
WAIT = 20.0
#: A phone: the page must be usable at 320 px; 360 is a common small phone.
PHONE = (360, 780)


def new_browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={PHONE[0]},{PHONE[1]}",
        "--lang=fr-FR",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "fr-FR,fr"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class WebProcess:
    base: str
    process: subprocess.Popen[bytes]
    log: Path


def start_web_process(
    directory: Path, *, per_ip: int = 100_000, database_url: str | None = None
) -> Iterator[WebProcess]:
    """``database_url``: the SQLite file web.db in ``directory`` when not given."""
    port = free_port()
    config = directory / "qn_bot_web.toml"
    url = database_url if database_url is not None else f"sqlite:///{directory / 'web.db'}"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        f"[web]\nport = {port}\nip_messages_per_window = {per_ip}\n"
        "[limits]\nmessages_per_window = 1000\nwindow_seconds = 1.0\n",
        encoding="utf-8",
    )
    log = directory / "qn_bot_web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*qn_bot_command(), "--config", str(config), "run"],
            cwd=directory,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/c/ping", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(log.read_text(encoding="utf-8")) from None
            time.sleep(0.1)
    try:
        yield WebProcess(base, process, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ChatPage:
    """The chat page in the browser, read as a person would: messages by data-role."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.mark = 0

    def messages(self, role: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, f'#log [data-role="{role}"]')

    def texts(self, role: str) -> list[str]:
        return [
            e.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent") or ""
            for e in self.messages(role)
        ]

    def expect(self, needle: str) -> str:
        """Wait for a bot message after the last action that contains ``needle``."""

        def found(_: object) -> str | bool:
            for text in self.texts("bot")[self.mark :]:
                if needle in text:
                    return text
            return False

        try:
            text: str = WebDriverWait(self.driver, WAIT, poll_frequency=0.05).until(found)
        except Exception as exc:
            raise AssertionError(f"no {needle!r} after {self.mark}: {self.texts('bot')}") from exc
        return text

    def act(self) -> None:
        self.mark = len(self.messages("bot"))

    def send(self, text: str, expect: str | None = None) -> None:
        self.act()
        box = self.driver.find_element(By.ID, "text")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)
        if expect is not None:
            self.expect(expect)

    def press(self, label: str, expect: str | None = None) -> None:
        def found(d: webdriver.Chrome) -> WebElement | bool:
            buttons = [
                b
                for b in d.find_elements(By.CSS_SELECTOR, "#log button")
                if label in (b.get_attribute("textContent") or "")
            ]
            return buttons[-1] if buttons else False

        try:
            button: WebElement = WebDriverWait(self.driver, WAIT, poll_frequency=0.05).until(found)
        except Exception as exc:
            raise AssertionError(f"no button {label!r}: {self.texts('bot')[-2:]}") from exc
        self.act()
        button.click()
        if expect is not None:
            self.expect(expect)

    def settled(self) -> None:
        """No message still waiting for the server's echo."""
        WebDriverWait(self.driver, WAIT).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, "#log .pending")
        )
