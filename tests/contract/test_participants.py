"""One definition of "participant", on every backend: /stats, the digest, the md/html exports
and the published site count the same people.

A participant of a campaign is a citizen who consented to it (when its flow asks) and has at
least one live answer in it. The scenario has citizens in every state, all of them talking to
the real service: refused consent, consented and never answered, answered then deleted it,
completed the flow, erased everything (/oublier), and two who sign with the same name.
"""

from __future__ import annotations

import re
from pathlib import Path

from qn_bot.config import TeamConfig
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.site import export_site
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_service import SLUG, Citizen, item_texts, open_campaign

TEAM = TeamConfig(name="equipe", campaigns=(SLUG,), min_respondents=1)


async def everyone(service: Service) -> None:
    """Four participants (one completed), and five citizens who are not participants."""
    refuser = Citizen(service, "refuser")
    assert "D'accord ?" in await refuser.say("/start")
    await refuser.press("refuse")

    lurker = Citizen(service, "lurker")
    await lurker.join()  # consented, never answered

    deleter = Citizen(service, "deleter")
    await deleter.join()
    await deleter.say("une idée regrettée")
    await deleter.say("/mes_reponses")
    await deleter.press(deleter.button("✏️ 1"))  # the review numbers the answers
    await deleter.press(deleter.button("Supprimer"))
    await deleter.press(deleter.button("🗑 Oui, supprimer"))  # a delete asks to confirm

    eraser = Citizen(service, "eraser")
    await eraser.join()
    await eraser.say("une idée effacée")
    await eraser.say("/oublier")
    assert "effacé" in await eraser.press("forget_yes")

    finisher = Citizen(service, "finisher")
    await finisher.join()
    await finisher.say("des pistes cyclables")
    await finisher.say("/suivant")
    review = await finisher.send(finisher.message("Merci"))
    done = review.replies[-1].buttons[-1].value
    await finisher.press(done)

    # Two citizens who sign with the same name are two participants, whatever the signature
    # rules say about the second one.
    for name in ("marie1", "marie2"):
        signer = Citizen(service, name)
        await signer.join()
        await signer.say(f"une idée de {name}")
        await signer.say("/signer Marie Curie")

    plain = Citizen(service, "plain")
    await plain.join()
    await plain.say("une idée")
    await plain.say("une autre idée")


def count_in(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in {text!r}"
    return int(found.group(1))


async def test_stats_digest_exports_and_site_count_the_same_participants(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms, tmp_path: Path
) -> None:
    await open_campaign(store, clock)
    service = Service(
        store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",), teams=(TEAM,)
    )
    await everyone(service)
    assert "une idée regrettée" not in await item_texts(store)
    assert "une idée effacée" not in await item_texts(store)
    boss = Citizen(service, "boss")

    stats = await boss.say(f"/stats {SLUG}")
    assert count_in(r"(\d+) participant", stats) == 4
    assert count_in(r"\((\d+) aujourd’hui", stats) == 4
    assert count_in(r"(\d+) cette semaine", stats) == 4
    assert count_in(r"(\d+) parcours", stats) == 1

    for fmt in ("md", "html"):
        await boss.say(f"/export {SLUG} {fmt}")
        (attachment,) = boss.last[0].attachments
        assert count_in(r"(\d+) participants", attachment.data.decode()) == 4, fmt

    await export_site(store, tmp_path / "site", clock())
    page = (tmp_path / "site" / f"{SLUG}.html").read_text(encoding="utf-8")
    assert count_in(r"(\d+) participants", page) == 4

    clock.advance(days=7)  # /digest reports on the last completed week: this one
    digest = await boss.say("/digest")
    assert count_in(r"Nouveaux participants\u00a0: (\d+)", digest) == 4
    assert count_in(r"Parcours terminés\u00a0: (\d+)", digest) == 1
    assert count_in(r"Depuis le début\u00a0: (\d+) participant", digest) == 4


async def test_a_campaign_without_consent_step_counts_who_answered(
    store: Store, clock: FixedClock
) -> None:
    """Without a consent step there is nothing to consent to: a live answer is enough."""
    from qn_bot.campaigns import create_campaign
    from qn_bot.domain import Address, UserRef
    from qn_bot.flows.loader import load_flow_text
    from qn_bot.participants import campaign_participants

    flow = load_flow_text(
        'id = "libre"\nversion = 1\nlanguages = ["fr"]\ntitle = "Libre"\n\n[[steps]]\n'
        'id = "idees"\nkind = "list"\nprompt = "Vos idées ?"\n',
        "libre.toml",
    )
    async with store.transaction() as tx:
        campaign: CampaignRecord = await create_campaign(
            tx, slug="libre", flow=flow, title="Libre", now=clock()
        )
        for n, answers in enumerate((1, 0, 2)):
            p = await tx.participants.create_participant(
                UserRef("test", f"u{n}"), Address("test", f"u{n}"), clock(), language="fr"
            )
            session = await tx.sessions.save_session(
                p.id, campaign.id, {}, clock(), status="active", step_id="idees"
            )
            for seq in range(1, answers + 1):
                await tx.sessions.add_item(
                    session_id=session,
                    campaign_id=campaign.id,
                    participant_id=p.id,
                    seq=seq,
                    step_id="idees",
                    text=f"idée {n}-{seq}",
                    value=None,
                    now=clock(),
                )
        found = await campaign_participants(tx, campaign, flow)
    assert len(found) == 2
