"""The web chat in Debian's chromium (issue 17): one browser and one `qn-bot run` for the
module. The page's script sends and receives without reloading; a network cut loses and repeats
nothing; /lien carries the conversation to another device; /oublier; an axe-core audit."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.construire import (
    CONSENT_QUESTION,
    LIST_STEPS,
    THANKS,
    VALIDATE,
    choice_labels,
    prompt,
)
from tests.integration.processes import SLUG
from tests.integration.web.browser import (
    AXE,
    WAIT,
    ChatPage,
    WebProcess,
    new_browser,
    start_web_process,
)

pytestmark = pytest.mark.integration

ITEMS: dict[str, list[str]] = {
    "pourquoi": ["Révolution numérique", "Accélérateur de transition"],
    "meurt": ["Pouvoir vertical <script>alert(1)</script>"],
    "dysfonctionne": ["Les temps longs de décision"],
    "nait": ["Devient légitime celui qui fait"],
    "horizons": ["Ville apprenante"],
    "moyens_juridiques": ["Régulations intelligentes"],
    "moyens_financement": ["Plasticité"],
    "acteurs": ["Des enfants ?"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    yield from start_web_process(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    browser = new_browser()
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver: webdriver.Chrome, server: WebProcess) -> ChatPage:
    driver.delete_all_cookies()  # a new citizen for each test
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    driver.get(f"{server.base}/c/{SLUG}")
    return ChatPage(driver)


def start(page: ChatPage) -> None:
    page.act()
    page.driver.find_element(By.CSS_SELECTOR, "#start button").click()
    page.expect(CONSENT_QUESTION)
    page.press("J’accepte", prompt("pourquoi"))


def test_whole_construire_2030_flow_with_buttons_without_reloading(page: ChatPage) -> None:
    page.driver.execute_script("window.notReloaded = true")
    start(page)
    labels = choice_labels("moyens_types")
    for step in LIST_STEPS:
        if step == "moyens_juridiques":
            page.press(labels[0], "Sélection")
            page.press(labels[3], labels[3])
            page.press("Valider", prompt("moyens_juridiques"))
        if step not in ITEMS:
            continue
        for count, item in enumerate(ITEMS[step], start=1):
            page.send(item, f"({count} au total)")
        page.press("Suivant", "Voici vos réponses" if step == "acteurs" else "?")
    page.press(VALIDATE, THANKS)
    assert page.driver.execute_script("return window.notReloaded") is True
    citizen = page.texts("citizen")
    assert "Pouvoir vertical <script>alert(1)</script>" in citizen  # shown as text
    for items in ITEMS.values():
        for item in items:
            assert citizen.count(item) == 1, item  # each once, never lost nor repeated
    # The same conversation after a reload, from the database.
    before = (page.texts("bot"), citizen)
    page.driver.refresh()
    assert (page.texts("bot"), page.texts("citizen")) == before


def test_a_network_cut_loses_and_repeats_nothing(page: ChatPage) -> None:
    start(page)
    driver = page.driver
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.send("Écrit hors ligne")
    page.driver.find_element(By.CSS_SELECTOR, "#log .pending")
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.expect("(1 au total)")
    page.settled()
    page.send("Après la coupure", "(2 au total)")
    assert page.texts("citizen").count("Écrit hors ligne") == 1
    ids = [e.get_attribute("data-id") for e in driver.find_elements(By.CSS_SELECTOR, "#log li")]
    assert len(ids) == len(set(ids))
    assert sum("(1 au total)" in t for t in page.texts("bot")) == 1
    shown = (page.texts("bot"), page.texts("citizen"))
    driver.refresh()
    assert (page.texts("bot"), page.texts("citizen")) == shown


def test_a_second_device_through_lien(page: ChatPage, server: WebProcess) -> None:
    start(page)
    page.send("Depuis le téléphone", "(1 au total)")
    page.send("/lien", "autre appareil")
    link = page.driver.find_elements(By.CSS_SELECTOR, "#log .link a")[-1].get_attribute("href")
    assert link is not None
    assert link.startswith(f"{server.base}/c/{SLUG}/j/")
    first = page.driver.get_cookie("qn_web")
    assert first is not None
    assert first["httpOnly"]
    page.driver.delete_all_cookies()  # the other device knows nothing of the citizen
    page.driver.get(link)
    page.driver.find_element(By.CSS_SELECTOR, "main form button").click()
    page.mark = 0
    page.expect(prompt("pourquoi"))
    assert "Depuis le téléphone" in page.texts("citizen")
    page.send("Depuis l’ordinateur", "(2 au total)")
    # Once only.
    page.driver.delete_all_cookies()
    page.driver.get(link)
    page.driver.find_element(By.CSS_SELECTOR, "main form button").click()
    # The click only starts the navigation: wait for the answer page, not the link's own.
    WebDriverWait(
        page.driver, WAIT, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda d: "déjà servi" in d.find_element(By.TAG_NAME, "main").text)


def test_oublier_erases_the_conversation(page: ChatPage) -> None:
    start(page)
    page.send("À effacer", "(1 au total)")
    page.send("/oublier", "effacer")
    page.press("Oui, tout effacer", "a été effacé")
    page.driver.refresh()
    assert "À effacer" not in page.texts("citizen")
    assert all("Acceptez" not in t for t in page.texts("bot"))


def test_my_data_comes_as_a_download(page: ChatPage, server: WebProcess) -> None:
    start(page)
    page.send("Mes mots", "(1 au total)")
    page.send("/mes_donnees")
    link = download_link(page)
    cookie = page.driver.get_cookie("qn_web")
    assert cookie is not None
    request = urllib.request.Request(link, headers={"Cookie": f"qn_web={cookie['value']}"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Disposition"].startswith("attachment")
        data = json.loads(response.read())
    assert "Mes mots" in json.dumps(data, ensure_ascii=False)


def download_link(page: ChatPage) -> str:
    def found(d: webdriver.Chrome) -> str | bool:
        links = d.find_elements(By.CSS_SELECTOR, "#log .file a")
        return (links[-1].get_attribute("href") or False) if links else False

    result: str = WebDriverWait(page.driver, WAIT).until(found)
    return result


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_serious_accessibility_violation(
    page: ChatPage, server: WebProcess, language: str
) -> None:
    page.driver.get(f"{server.base}/c/{SLUG}?lang={language}")
    assert page.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    page.act()
    page.driver.find_element(By.CSS_SELECTOR, "#start button").click()
    page.expect("?")  # the audit covers messages and their buttons
    page.driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})"
        ".then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes.length])));"
    )
    serious = [v for v in result if v[1] in ("serious", "critical")]
    assert serious == [], result
