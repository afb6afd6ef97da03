"""The README's picture of the web chat on a phone: `python -m tests.integration.web.screenshot
[PNG]` starts `qn-bot run` on a throwaway database, answers the first questions in Debian's
chromium at 360 × 780 and saves the page (docs/images/web-chat.png by default)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.web.browser import ChatPage, new_browser, start_web_process

DEFAULT = Path(__file__).parents[3] / "docs" / "images" / "web-chat.png"


def main(target: Path = DEFAULT) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_web_process(Path(tmp))
        running = next(server)
        driver = new_browser()
        try:
            driver.get(f"{running.base}/c/{SLUG}")
            page = ChatPage(driver)
            page.act()
            driver.find_element(By.CSS_SELECTOR, "#start button").click()
            page.expect(CONSENT_QUESTION)
            page.press("J’accepte", prompt("pourquoi"))
            page.send("Révolution numérique", "(1 au total)")
            page.send("Le climat qui change", "(2 au total)")
            page.press("Suivant", prompt("meurt"))
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
            server.close()
    print(target)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
