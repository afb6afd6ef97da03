"""What citizens send that is not a plain answer: redeliveries, photos, markup, group chats."""

from __future__ import annotations

from pathlib import Path

import pytest

from qn_bot.config import TeamConfig
from qn_bot.domain import UserRef
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot, running_bot, telegram_config
from tests.integration.telegram.harness import Citizen, Emulator

pytestmark = pytest.mark.integration

UNSUPPORTED = "Je ne lis que du texte"


async def at_first_question(citizen: Citizen) -> None:
    await citizen.send(f"/start {SLUG}", CONSENT_QUESTION)
    await citizen.press("J’accepte")
    await citizen.expect(prompt("pourquoi"))


async def stored(bot: RunningBot, step: str = "pourquoi") -> list[object]:
    return [row["text"] for row in await bot.export() if row["step"] == step]


async def test_a_redelivered_update_changes_nothing(bot: RunningBot) -> None:
    alice = bot.hub.citizen()
    await at_first_question(alice)
    first = await alice.message({"text": "Révolution numérique"})
    await alice.expect("(1 au total)")
    # Telegram delivers the same message again (same message id, new update id).
    again = await alice.message({"text": "Révolution numérique", "message_id": first["message_id"]})
    assert again["update_id"] != first["update_id"]
    # …and the same button press again.
    await alice.send("Accélérateur", "(2 au total)")
    await alice.press("Suivant")
    await alice.expect(prompt("meurt"))
    press = next(s for s in reversed(alice.sent) if "callback_query_id" in s)
    await bot.hub.update(
        {
            "callback_query": {
                "id": press["callback_query_id"],
                "from": alice.user,
                "data": "k:suivant",
                "message": {
                    "message_id": press["pressed_on"],
                    "date": 0,
                    "chat": alice.chat,
                    "text": "…",
                },
            }
        }
    )
    assert await alice.settle(0.7) == []
    assert await stored(bot) == ["Révolution numérique", "Accélérateur"]
    await alice.send("Ce qui meurt", "(1 au total)")  # still at the second question
    assert await stored(bot, "meurt") == ["Ce qui meurt"]


NOT_TEXT = {
    "photo": {"photo": [{"file_id": "p1", "file_unique_id": "p1", "width": 10, "height": 10}]},
    "sticker": {
        "sticker": {
            "file_id": "s1",
            "file_unique_id": "s1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    },
    "voice": {"voice": {"file_id": "v1", "file_unique_id": "v1", "duration": 3}},
    "document": {"document": {"file_id": "d1", "file_unique_id": "d1", "file_name": "a.pdf"}},
    "location": {"location": {"latitude": 48.85, "longitude": 2.35}},
    "captioned photo": {
        "photo": [{"file_id": "p2", "file_unique_id": "p2", "width": 10, "height": 10}],
        "caption": "Mon idée en image",
    },
    "poll": {
        "poll": {
            "id": "poll1",
            "question": "Oui ?",
            "options": [{"text": "oui", "voter_count": 0}, {"text": "non", "voter_count": 0}],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
        }
    },
}


async def test_messages_that_are_not_text_get_a_clear_reply_and_change_nothing(
    bot: RunningBot,
) -> None:
    alice = bot.hub.citizen()
    await at_first_question(alice)
    await alice.send("Révolution numérique", "(1 au total)")
    for kind, fields in NOT_TEXT.items():
        await alice.message(fields)
        (reply,) = await alice.expect(UNSUPPORTED)
        assert not reply.buttons, kind
    assert await stored(bot) == ["Révolution numérique"]
    await alice.send("Accélérateur", "(2 au total)")  # still at the same step, count unchanged


async def test_participant_markup_is_escaped_and_long_text_is_split(bot: RunningBot) -> None:
    alice = bot.hub.citizen()
    await at_first_question(alice)
    markup = "<script>alert('x')</script> <b>gras</b> & <a href=\"javascript:x\">lien</a> &amp;"
    await alice.send(markup, "(1 au total)")
    # The emulator checks HTML parse mode like Telegram: unescaped markup would be refused.
    long_items = [f"Idée {n} " + ("développement territorial " * 18).strip() for n in range(12)]
    for count, item in enumerate(long_items, start=2):
        await alice.send(item, f"({count} au total)")
    await alice.say("/mes_reponses")
    got = await alice.expect(*long_items[-3:], within=15)
    review = [m for m in got if "Idée" in m.plain or markup in m.plain]
    assert len(review) >= 2, "a review of ~5600 characters must come in several messages"
    assert all(len(m.plain) <= 4096 for m in review)
    joined = "\n".join(m.plain for m in review)
    assert markup in joined
    for item in long_items:
        assert joined.count(item) == 1  # split between paragraphs or lines, never inside one
    assert "&lt;script&gt;" in review[0].text
    assert "<script>" not in review[0].text
    assert all(not m.buttons for m in review[:-1])  # a keyboard only under the last part
    assert await stored(bot) == [markup, *long_items]


async def test_an_edited_message_revises_its_item(bot: RunningBot) -> None:
    alice = bot.hub.citizen()
    await at_first_question(alice)
    sent = await alice.message({"text": "Révolution numériqe"})
    await alice.expect("(1 au total)")
    await bot.hub.update(
        {
            "edited_message": {
                "message_id": sent["message_id"],
                "from": alice.user,
                "chat": alice.chat,
                "date": 0,
                "text": "Révolution numérique",
            }
        }
    )
    await alice.settle(0.7)
    assert await stored(bot) == ["Révolution numérique"]


async def test_group_chat_answers_start_with_a_deep_link_and_never_collects(
    emulator: Emulator, tmp_path: Path, database_url: str
) -> None:
    group_id = -100_777
    config = telegram_config(emulator, tmp_path, database_url=database_url)
    team = TeamConfig(name="atelier", campaigns=(SLUG,), destinations=(f"telegram:{group_id}",))
    config = config.model_copy(update={"teams": (team,)})
    async with running_bot(config) as bot:
        carol = bot.hub.citizen(group=group_id)
        (reply,) = await carol.send("/start", "message privé")
        assert f"https://t.me/qn_test_bot?start={SLUG}" in reply.plain
        assert not reply.buttons
        (reply,) = await carol.send("/start@qn_test_bot ville-2040", "message privé")
        assert "https://t.me/qn_test_bot?start=ville-2040" in reply.plain
        # Answers, list commands and button-like input typed in the group are ignored.
        for text in ["Révolution numérique", "/suivant", "J'accepte", "1"]:
            await carol.say(text)
        await carol.message(NOT_TEXT["photo"])
        assert await carol.settle(0.7) == []
        assert await bot.export() == []
        async with bot.app.store.transaction() as tx:
            assert (
                await tx.participants.participant(UserRef("telegram", str(carol.user_id))) is None
            )

        # The same person in a private chat answers normally.
        private = Citizen(bot.hub, carol.user_id, carol.user_id)
        await at_first_question(private)
        await private.send("Révolution numérique", "(1 au total)")
        assert await stored(bot) == ["Révolution numérique"]
