"""One theme source (issue 14 §2, §4): recaps, the digest and the site group by meaning from
stored vectors, with the TF-IDF themes as the fallback and a word saying so."""

from __future__ import annotations

import numpy as np

from qn_bot.recap.themes import ThemeInput, item_themes
from qn_bot.themes.compute import METHOD_EMBEDDINGS, METHOD_TFIDF, group_items
from qn_bot.themes.embedding import DIMENSIONS, quantise


def _near(axis: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[axis] = 1.0
    return quantise(v + rng.normal(0, 0.05, DIMENSIONS).astype(np.float32))


# Two ideas said in words they do not share: only their meaning (the vectors) groups them.
WORK = [
    "télétravail à la maison",
    "bosser depuis la maison",
    "travailler chez soi",
    "boulot à domicile",
]
BIKE = [
    "pistes cyclables pour vélo",
    "plus de vélos",
    "rouler à bicyclette",
    "voies pour cyclistes",
]


def _public() -> list[ThemeInput]:
    out = [ThemeInput(n, text, _near(0, n)) for n, text in enumerate(WORK, start=1)]
    out += [ThemeInput(10 + n, text, _near(1, 10 + n)) for n, text in enumerate(BIKE, start=1)]
    return out


def _authors() -> dict[int, str]:
    """Each idea by a citizen of its own."""
    return {i.item_id: f"P-{i.item_id}" for i in _public()}


def test_recap_themes_group_by_meaning_from_stored_vectors() -> None:
    found = item_themes(_public(), "fr", authors=_authors())
    assert found.method == METHOD_EMBEDDINGS
    assert len({found.of[n] for n in (1, 2, 3, 4)}) == 1
    assert found.of[1] != found.of[11]


def test_a_hidden_own_item_is_placed_by_its_vector_without_counting() -> None:
    found = item_themes(
        _public(), "fr", authors=_authors(), placed=[ThemeInput(99, "zorglub", _near(1, 99))]
    )
    assert found.of[99] == found.of[11]
    assert found.counts[found.of[11]] == 4


def test_an_item_not_embedded_yet_is_placed_by_the_theme_words_or_left_ungrouped() -> None:
    first = item_themes(_public(), "fr", authors=_authors())
    word = first.keywords[first.of[1]][0]
    found = item_themes(
        _public(),
        "fr",
        authors=_authors(),
        placed=[ThemeInput(98, f"encore {word}"), ThemeInput(97, "zorglub")],
    )
    assert found.of[98] == first.of[1]
    assert 97 not in found.of


def test_too_few_vectors_fall_back_to_tfidf_and_say_why() -> None:
    plain = [ThemeInput(n, f"pistes cyclables {n}") for n in range(1, 8)]
    found = item_themes(plain, "fr", authors={i.item_id: i.item_id for i in plain})
    assert (found.method, found.fallback_reason) == (METHOD_TFIDF, "not embedded yet")


def test_group_items_puts_each_item_in_at_most_one_theme() -> None:
    grouped = group_items(
        [(i.item_id, i.text, i.vector) for i in _public()], "fr", authors=_authors()
    )
    assert sorted(grouped.of) == [1, 2, 3, 4, 11, 12, 13, 14]
    assert len(grouped.centroids) == len(grouped.labels) == 2


async def test_the_embedding_worker_runs_only_while_it_holds_its_role() -> None:
    import asyncio
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from qn_bot.leadership import Leadership, Lease
    from qn_bot.themes.worker import ROLE, EmbeddingWorker

    asked: list[str] = []
    loaded = asyncio.Event()

    class HeldElsewhere(Leadership):
        @asynccontextmanager
        async def hold(self, role: str) -> AsyncIterator[Lease]:
            asked.append(role)
            await asyncio.Event().wait()  # another process holds it for good
            yield Lease(role)

        async def vacant(self, role: str) -> bool:
            return False

    def loader() -> None:
        loaded.set()

    worker = EmbeddingWorker(None, loader=loader, leadership=HeldElsewhere())  # type: ignore[arg-type]
    await worker.start()
    for _ in range(100):
        if asked:
            break
        await asyncio.sleep(0.01)
    await worker.stop()
    assert asked == [ROLE]
    assert not loaded.is_set()  # not even the model is loaded by a process without the role
