"""A weekly team digest of 1,000,000 items from 10,000 citizens: time and peak RSS.

Two phases, so that generating the data does not pollute the memory figure:

1. ``generate``: a database built with the real migrations, one open campaign of the
   construire-2030 flow, 10,000 participants with one session each and 1,000,000 items (with
   their revision rows) spread over the flow's list steps and over eight weeks, inserted with
   bulk executemany through the schema tables (not through the service: that is the ingestion
   benchmark's job).
2. ``digest``: in a fresh interpreter (``python -m bench.digest_scale --phase digest URL``),
   everything ``qn-bot digest send`` builds before any network I/O: the data read, the digest
   model, the chat text with its chart and synthesis attachment, the e-mail HTML body and the
   MIME message, and the terminal preview. Its wall time and its own ``ru_maxrss`` are reported.
   Like ``qn-bot digest send`` once started (its store open), the phase calls
   :func:`~qn_bot.heap.freeze_startup_heap` before building the digest: that collection is part
   of start-up, like the imports, and is not in the measured time (it takes 20-40 ms).

Target (issue "PostgreSQL, several bot processes, and benchmarks", benchmark c): ≤ 3 s and
≤ 300 MB peak RSS on SQLite. PostgreSQL joins when QN_BOT_TEST_POSTGRES_URL names a server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.config import TeamConfig
from qn_bot.digest.period import completed_period
from qn_bot.domain import CampaignStatus
from qn_bot.flows.format import StepKind
from qn_bot.flows.loader import resolve_flow
from qn_bot.heap import freeze_startup_heap
from qn_bot.store import schema as t
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

PARTICIPANTS = 10_000
ITEMS = 1_000_000
WEEKS = 8
CHUNK = 20_000
SLUG = "bench-digest"
TARGET_S = 3.0
TARGET_MB = 300.0
#: A Wednesday: the digest reports on the week that ended on Monday 23 November, 09:00 Paris.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TEAM = TeamConfig(
    name="bench",
    campaigns=(SLUG,),
    destinations=("telegram:-1001234567", "matrix:!room:example.org", "mailto:team@example.org"),
)

# Words citizens would use, some with accents, plurals and elisions: themes have work to do.
_VOCABULARY_TEXT = (
    "territoire territoires territorial numérique numériques citoyen citoyens citoyenne "
    "démocratie participation participative énergie énergies transition écologique climat "
    "mobilité mobilités transport transports public publique publics services service école "
    "écoles éducation formation santé hôpital hôpitaux emploi travail travailleurs entreprise "
    "entreprises économie économique local locale locaux commun communs communauté association "
    "associations collectivité collectivités agriculture alimentation logement logements ville "
    "villes campagne rural rurale réseau réseaux donnée données plateforme plateformes "
    "intelligence artificielle algorithme algorithmes souveraineté sobriété solidarité "
    "coopération gouvernance horizontalité pouvoir vertical décision décisions information "
    "médias confiance justice sociale inégalités accès culture bibliothèque jeunesse jeunes "
    "aînés famille familles eau forêt biodiversité déchets recyclage réparation industrie "
    "industries innovation innovations recherche science sciences"
)
_VOCABULARY = _VOCABULARY_TEXT.split()
_GLUE_TEXT = "le la les de des du un une et ou pour avec sans dans sur par plus moins très l' d'"
_GLUE = _GLUE_TEXT.split()
_SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "da",
    "de",
    "di",
    "do",
    "du",
    "fa",
    "fe",
    "fi",
    "la",
    "le",
    "li",
    "lo",
    "ma",
    "me",
    "mi",
    "mo",
    "na",
    "ne",
    "ni",
    "no",
    "pa",
    "pe",
    "pi",
    "po",
    "ra",
    "re",
    "ri",
    "ro",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
    "vo",
    "tion",
    "ment",
    "ité",
    "eur",
]


def _rare_words(rng: random.Random, count: int = 30_000) -> list[str]:
    """Made-up words: real answers have a long tail of words seen once or twice."""
    return ["".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(count)]


def _text(rng: random.Random, rare: list[str]) -> str:
    words = rng.choices(_VOCABULARY, k=rng.randint(4, 9))
    if rng.random() < 0.5:
        words.append(rng.choice(rare))
    glue = rng.choices(_GLUE, k=len(words))
    return " ".join(f"{g} {w}" for g, w in zip(glue, words, strict=True)).capitalize()


async def generate(url: str, participants: int = PARTICIPANTS, items: int = ITEMS) -> None:
    await upgrade(url)
    rng = random.Random(2030)
    rare = _rare_words(rng)
    flow = resolve_flow("construire-2030")
    steps = [s.id for s in flow.steps if s.kind is StepKind.LIST]
    end = completed_period(TEAM, NOW).end
    start = end - timedelta(weeks=WEEKS)
    span = (end - start).total_seconds()
    store = Store.from_url(url)
    try:
        async with store.transaction() as tx:
            created = start - timedelta(days=1)
            campaign = await create_campaign(
                tx, slug=SLUG, flow=flow, title="Construire 2030 (bench)", now=created
            )
            await set_status(tx, SLUG, CampaignStatus.OPEN, created)
            # Each citizen joins at some point of the eight weeks and answers after that.
            joined = sorted(rng.random() * span * 0.5 for _ in range(participants))
            await tx.conn.execute(
                insert(t.participants),
                [
                    {
                        "id": n + 1,
                        "platform": "bench",
                        "platform_user_id": f"u{n}",
                        "pseudonym": f"P-{n:05d}",
                        "reply_chat_id": f"u{n}",
                        "stopped": False,
                        "unreachable": False,
                        "created_at": start + timedelta(seconds=joined[n]),
                        "updated_at": start + timedelta(seconds=joined[n]),
                    }
                    for n in range(participants)
                ],
            )
            sessions = []
            for n in range(participants):
                at = start + timedelta(seconds=joined[n])
                done = at + timedelta(days=rng.random() * 10) if rng.random() < 0.6 else None
                sessions.append(
                    {
                        "id": n + 1,
                        "participant_id": n + 1,
                        "campaign_id": campaign.id,
                        "state": {},
                        "status": "completed" if done else "active",
                        "completed_at": done if done and done < end else None,
                        "consent_version": flow.version,  # participants consented
                        "consent_at": at,
                        "reminders_sent": 0,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            await tx.conn.execute(insert(t.sessions), sessions)
        # Items in chunks, one transaction each: the insert itself stays in a few MB.
        seqs = [0] * participants
        for first in range(0, items, CHUNK):
            rows, revisions = [], []
            for n in range(first, min(first + CHUNK, items)):
                who = rng.randrange(participants)
                offset = joined[who] + rng.random() * (span - joined[who])
                at = start + timedelta(seconds=offset)
                seqs[who] += 1
                text = _text(rng, rare)
                rows.append(
                    {
                        "id": n + 1,
                        "session_id": who + 1,
                        "campaign_id": campaign.id,
                        "participant_id": who + 1,
                        "seq": seqs[who],
                        "step_id": steps[rng.randrange(len(steps))],
                        "text": text,
                        "value": None,
                        "revision": 1,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                revisions.append(
                    {
                        "item_id": n + 1,
                        "revision": 1,
                        "text": text,
                        "value": None,
                        "deleted": False,
                        "created_at": at,
                    }
                )
            async with store.transaction() as tx:
                await tx.conn.execute(insert(t.items), rows)
                await tx.conn.execute(insert(t.item_revisions), revisions)
        if store.dialect == "postgresql":
            from sqlalchemy import text as sql

            async with store.transaction() as tx:
                await tx.conn.execute(sql("ANALYZE"))
    finally:
        await store.close()


async def digest_phase(url: str) -> dict[str, Any]:
    """What `qn-bot digest send` builds, minus the network; run in a fresh interpreter."""
    from qn_bot.digest.email import build_email, chart_cid
    from qn_bot.digest.render import render_html, render_preview, subject
    from qn_bot.digest.send import build_package, email_destinations

    store = Store.from_url(url)
    try:
        period = completed_period(TEAM, NOW)
        freeze_startup_heap()  # as `qn-bot digest send` does once started
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        package, _ = await build_package(store, TEAM, period, NOW, late=False)
        built = time.perf_counter()
        message = package.chat_message()
        cids = {slug: chart_cid(slug, period.key) for slug in package.charts}
        html = render_html(package.digest, cids)
        mails = [
            build_email(
                sender="qn-bot@example.org",
                recipient=address,
                subject=subject(package.digest),
                text=package.chat_text,
                html=html,
                charts={cids[slug]: png for slug, png in package.charts.items()},
                attachments=package.syntheses,
                key=period.key,
                now=NOW,
                language=package.digest.language,
            ).as_bytes()
            for address in email_destinations(TEAM)
        ]
        preview = render_preview(package.digest)  # what `qn-bot digest preview` prints
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        # The fold process (qn_bot.digest.fold): its CPU is part of the digest's.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        await store.close()
    c = package.digest.campaigns[0]
    return {
        "seconds": round(elapsed, 2),
        "package_seconds": round(built - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # CPU of every thread of the process and of its fold process: on a shared machine, the
        # figure load hardly moves.
        "cpu_seconds": round(
            after.ru_utime
            + after.ru_stime
            - before.ru_utime
            - before.ru_stime
            + children.ru_utime
            + children.ru_stime,
            2,
        ),
        "fold_process_cpu_seconds": round(children.ru_utime + children.ru_stime, 2),
        "fold_process_peak_rss_mb": round(children.ru_maxrss / 1024, 1),
        "rss_before_mb": round(before.ru_maxrss / 1024, 1),
        "total_items": c.total_items,
        "new_items": c.new_items,
        "respondents": c.respondents,
        "chat_text_chars": len(message.text),
        "synthesis_bytes": sum(len(a.data) for a in package.syntheses),
        "email_bytes": sum(len(m) for m in mails),
        "preview_chars": len(preview),
    }


def run_digest_subprocess(url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.digest_scale", "--phase", "digest", url],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _verdict(figures: dict[str, Any]) -> dict[str, Any]:
    figures["target_met"] = figures["seconds"] <= TARGET_S and figures["peak_rss_mb"] <= TARGET_MB
    return figures


async def scenario(url: str) -> dict[str, Any]:
    started = time.perf_counter()
    await generate(url)
    generated = time.perf_counter() - started
    figures = _verdict(run_digest_subprocess(url))
    figures["generate_seconds"] = round(generated, 1)
    figures["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return figures


async def main() -> dict[str, Any]:
    result: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, {os.uname().machine}"}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = await scenario(f"sqlite:///{Path(tmp) / 'digest.db'}")
    server = os.environ.get("QN_BOT_TEST_POSTGRES_URL")
    if server:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        name = f"bench_{uuid.uuid4().hex[:8]}"
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            result["postgresql"] = await scenario(url)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE "{name}"'))
            await admin.dispose()
    result["target"] = f"≤ {TARGET_S:g} s and ≤ {TARGET_MB:g} MB peak RSS (SQLite)"
    result["passed"] = bool(result["sqlite"]["target_met"])
    return result


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("generate", "digest"), required=True)
    parser.add_argument("url")
    args = parser.parse_args()
    if args.phase == "generate":
        asyncio.run(generate(args.url))
        return
    print(json.dumps(asyncio.run(digest_phase(args.url))))


if __name__ == "__main__":
    _cli()
