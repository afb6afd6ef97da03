"""The README's screenshots, taken from what qn-bot really produces.

Runs the real bot (qn_bot.app.Application) on a throwaway SQLite database: a few citizens answer
the built-in campaign over five weeks (the bot's clock is set back, nothing else is faked), then

- ``chat-telegram.png`` and ``chat-matrix.png``: one citizen's conversation, each bot message
  rendered by that platform's own adapter renderer (qn_bot.adapters.telegram.render,
  qn_bot.adapters.matrix.render) and laid out like the client shows it;
- ``synthesis.png``: the campaign's page of the static site (qn_bot.site.export_site);
- ``digest-email.png``: the team's weekly e-mail (qn_bot.digest.render.render_html) with its chart
  (qn_bot.digest.chart), on a phone;

are screenshot with headless Chromium (tests/servers/chromium/install.sh installs it) at a
phone's width, twice the pixels, into docs/images/. Run from the repository:

    .venv/bin/python docs/screenshots.py            # writes docs/images/*.png
    .venv/bin/python docs/screenshots.py --out /tmp/shots --keep   # and keeps the HTML
"""

from __future__ import annotations

import argparse
import asyncio
import html
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from qn_bot.adapters.console.adapter import ConsoleAdapter
from qn_bot.adapters.matrix.render import render as matrix_render
from qn_bot.adapters.telegram.render import CallbackCodec
from qn_bot.adapters.telegram.render import render as telegram_render

from qn_bot.app import Application, prepare_database
from qn_bot.campaigns import set_min_respondents
from qn_bot.config import Config, DatabaseConfig, TeamConfig
from qn_bot.digest.email import chart_cid
from qn_bot.digest.period import current_period
from qn_bot.digest.render import render_html
from qn_bot.digest.send import build_package
from qn_bot.domain import Envelope, InboundMessage, OutboundMessage
from qn_bot.ports import InboundSink
from qn_bot.site import export_site
from qn_bot.store.sql import Store

SLUG = "construire-2030"
CHROMIUM = "/usr/bin/chromium"
PHONE_WIDTH = 390  # CSS pixels of a common phone
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(weeks=4, days=2)

#: The citizen whose conversation is shown: consent in plain words, ideas, the next step, review.
SHOWN = (
    "oui",
    "Les tiers-lieux deviennent des services publics de proximité",
    "Le télétravail vide les centres-villes",
    "suivant",
)
#: Other citizens, each on another day: what the synthesis and the digest are made of.
OTHERS = (
    ("Les tiers-lieux", "Les circuits courts", "/suivant", "Le fax", "/suivant"),
    ("les Tiers lieux !", "La fin des guichets", "/suivant", "Les réunions inutiles", "/suivant"),
    ("Des circuits courts partout", "Les services publics en ligne", "/suivant"),
    ("Le numérique rend tout traçable", "/suivant", "Le fax", "Le papier carbone", "/suivant"),
    ("Les tiers-lieux", "/suivant", "Les annuaires papier", "/suivant"),
)


@dataclass
class Turn:
    who: str  # "user" or "bot"
    text: str = ""
    message: OutboundMessage | None = None


class RecordingConsole(ConsoleAdapter):  # type: ignore[misc]  # adapters/: untyped here
    """The console adapter, keeping each message as the bot sent it (text, buttons)."""

    def __init__(self, name: str, lines: tuple[str, ...]) -> None:
        super().__init__(name, stdin=io.StringIO("".join(f"{x}\n" for x in lines)),
                         stdout=io.StringIO(), opening=f"/start {SLUG}")  # fmt: skip
        self.turns: list[Turn] = []

    async def _one(self, sink: InboundSink, message: InboundMessage) -> None:
        if message.text and not message.text.startswith("/start"):
            self.turns.append(Turn("user", message.text))
        await super()._one(sink, message)

    async def send(self, envelope: Envelope) -> None:
        self.turns.append(Turn("bot", message=envelope.message))
        await super().send(envelope)


def clock_at(when: datetime) -> Callable[[], datetime]:
    return lambda: when


async def converse(config: Config, name: str, lines: tuple[str, ...], when: datetime) -> list[Turn]:
    console = RecordingConsole(name, lines)
    ended = console.ended()
    assert ended is not None
    async with Application(config, [console], clock=clock_at(when)):
        await ended.wait()
    return console.turns


# --- chat transcripts, laid out like the clients ------------------------------------------------

TELEGRAM_CSS = """
body { margin: 0; font: 15px/1.35 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       background: #bcd3a8; }
header { background: #517da2; color: #fff; padding: 10px 14px; font-weight: 600; }
header small { display: block; font-weight: 400; opacity: .8; font-size: 12px; }
main { padding: 8px 8px 16px; display: flex; flex-direction: column; gap: 6px; }
.msg { max-width: 82%; padding: 6px 10px 6px; border-radius: 12px; white-space: pre-wrap;
       box-shadow: 0 1px 1px rgba(0,0,0,.15); overflow-wrap: anywhere; }
.bot { background: #fff; align-self: flex-start; border-bottom-left-radius: 4px; }
.user { background: #effdde; align-self: flex-end; border-bottom-right-radius: 4px; }
.kb { align-self: flex-start; width: 82%; display: flex; flex-direction: column; gap: 4px;
      margin-top: -2px; }
.kb div { display: flex; gap: 4px; }
.kb span { flex: 1; text-align: center; background: rgba(40, 70, 40, .35); color: #fff;
           border-radius: 8px; padding: 7px 6px; font-size: 14px; }
"""

MATRIX_CSS = """
body { margin: 0; font: 15px/1.45 Inter, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       background: #fff; color: #17191c; }
header { border-bottom: 1px solid #e3e8f0; padding: 12px 14px; font-weight: 600; }
header small { display: block; font-weight: 400; color: #737d8c; font-size: 12px; }
main { padding: 6px 12px 16px; }
.ev { display: flex; gap: 10px; margin-top: 12px; }
.avatar { width: 32px; height: 32px; border-radius: 50%; color: #fff; font-weight: 600;
          display: flex; align-items: center; justify-content: center; flex: none; }
.sender { font-weight: 600; font-size: 14px; }
.bot .sender { color: #0dbd8b; } .bot .avatar { background: #0dbd8b; }
.user .sender { color: #368bd6; } .user .avatar { background: #368bd6; }
.body { overflow-wrap: anywhere; }
.body.notice { color: #4d5562; }
.body ol { margin: 4px 0 0; padding-left: 22px; }
"""


def _page(css: str, title: str, subtitle: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{css}</style></head><body><header>{html.escape(title)}"
        f"<small>{html.escape(subtitle)}</small></header><main>{body}</main></body></html>"
    )


async def telegram_page(turns: list[Turn]) -> str:
    codec = CallbackCodec()
    out = []
    for turn in turns:
        if turn.who == "user":
            out.append(f'<div class="msg user">{html.escape(turn.text)}</div>')
            continue
        assert turn.message is not None
        for part in await telegram_render(turn.message, codec):
            out.append(f'<div class="msg bot">{part.html}</div>')  # Telegram's own HTML
            if part.keyboard is not None:
                rows = "".join(
                    "<div>" + "".join(f"<span>{html.escape(b.text)}</span>" for b in row) + "</div>"
                    for row in part.keyboard.inline_keyboard
                )
                out.append(f'<div class="kb">{rows}</div>')
    return _page(TELEGRAM_CSS, "Questions Numériques", "bot", "\n".join(out))


def matrix_page(turns: list[Turn]) -> str:
    out = []
    for turn in turns:
        if turn.who == "user":
            body = html.escape(turn.text)
            out.append(_matrix_event("user", "Alice", body, notice=False))
            continue
        assert turn.message is not None
        for event in matrix_render(turn.message):
            # formatted_body is the event's own HTML (escaped text, <br/>, <ol>).
            out.append(_matrix_event("bot", "Questions Numériques", event.formatted_body))
    return _page(MATRIX_CSS, "Questions Numériques", "conversation privée", "\n".join(out))


def _matrix_event(who: str, name: str, body: str, *, notice: bool = True) -> str:
    kind = "body notice" if notice else "body"
    return (
        f'<div class="ev {who}"><div class="avatar">{name[0]}</div><div>'
        f'<div class="sender">{html.escape(name)}</div><div class="{kind}">{body}</div>'
        "</div></div>"
    )


# --- screenshots ----------------------------------------------------------------------------------


def screenshot(chromium: str, page: Path, out: Path, *, height: int = 4000) -> None:
    """``page`` at a phone's width and twice its pixels, cropped below the content."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--user-data-dir={profile}", "--force-device-scale-factor=2",
                f"--window-size={PHONE_WIDTH},{height}", f"--screenshot={out}",
                "--default-background-color=ffffffff", page.as_uri(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )  # fmt: skip
    _crop(out)


def _crop(path: Path, margin: int = 24) -> None:
    """Cut the empty space under the content (the window is taller than any page)."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    background = rgb.getpixel((rgb.width - 1, rgb.height - 1))
    bottom = rgb.height
    rows = rgb.load()
    assert rows is not None
    while bottom > 1 and all(rows[x, bottom - 1] == background for x in range(0, rgb.width, 3)):
        bottom -= 1
    rgb.crop((0, 0, rgb.width, min(rgb.height, bottom + margin))).save(path, optimize=True)


async def main(out: Path, chromium: str, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = keep if keep is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        config = Config(
            database=DatabaseConfig(url=f"sqlite:///{(work / 'demo.db').as_posix()}"),
            teams=(
                TeamConfig(
                    name="equipe-2030",
                    campaigns=(SLUG,),
                    destinations=("mailto:equipe@example.org",),
                    min_respondents=2,
                ),
            ),
        )
        await prepare_database(config, clock=clock_at(START))
        async with Store.from_url(config.database.url) as store, store.transaction() as tx:
            await set_min_respondents(tx, SLUG, 2)
        for n, lines in enumerate(OTHERS):
            await converse(config, f"citoyen{n}", ("1", *lines), START + timedelta(days=6 * n + 1))
        turns = await converse(config, "alice", SHOWN, NOW - timedelta(hours=2))

        pages = {
            "chat-telegram": await telegram_page(turns),
            "chat-matrix": matrix_page(turns),
        }
        async with Store.from_url(config.database.url) as store:
            await export_site(store, work / "site", NOW, min_respondents=2)
            team = config.teams[0]
            package, _ = await build_package(
                store, team, current_period(team, NOW), NOW, late=False
            )
        charts = {}
        for slug, png in package.charts.items():
            name = f"chart-{slug}.png"
            (work / name).write_bytes(png)
            charts[slug] = name
        email = render_html(package.digest, {slug: chart_cid(slug, "x") for slug in charts})
        for slug, name in charts.items():
            email = email.replace(f"cid:{chart_cid(slug, 'x')}", name)
        pages["digest-email"] = email
        for name, text in pages.items():
            (work / f"{name}.html").write_text(text, encoding="utf-8")
        site_page = work / "site" / f"{SLUG}.html"

        await asyncio.to_thread(shoot, chromium, work, site_page, list(pages), out)


def shoot(chromium: str, work: Path, site_page: Path, pages: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in pages:
        screenshot(chromium, work / f"{name}.html", out / f"{name}.png")
    screenshot(chromium, site_page, out / "synthesis.png")
    for name in (*pages, "synthesis"):
        print(out / f"{name}.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--keep", type=Path, help="also keep the HTML and the database here")
    args = parser.parse_args()
    if not shutil.which(args.chromium):
        sys.exit(f"{args.chromium} not found: run tests/servers/chromium/install.sh")
    asyncio.run(main(args.out, args.chromium, args.keep))
