"""The storage ports (qn_bot.repositories): importable without SQLAlchemy, and one set of
write methods for a transaction's repositories and group commit's batch."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from qn_bot.repositories import MessageClaims, OutboxWrites, SessionWrites
from qn_bot.store.batch import BatchWrites
from qn_bot.store.idempotency import SqlIdempotency
from qn_bot.store.outbox import SqlOutbox
from qn_bot.store.sessions import SqlSessions


def test_the_ports_and_records_import_no_sqlalchemy() -> None:
    """The service, the outbox worker and the digest name their storage through these
    modules: what they import must not drag the SQL layer in."""
    code = (
        "import sys, qn_bot.repositories, qn_bot.records\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'"
        " or m.startswith('qn_bot.store'))\n"
        "print(' '.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == []


WRITES = [
    (MessageClaims, SqlIdempotency),
    (SessionWrites, SqlSessions),
    (OutboxWrites, SqlOutbox),
]


@pytest.mark.parametrize(("port", "repository"), WRITES)
def test_a_batch_takes_the_same_writes_as_a_transaction(port: type, repository: type) -> None:
    """One function turns engine events into rows for a batch or a transaction: each write
    method has the same parameters — names, kinds, defaults, types — in both (and in the
    Protocol). They had drifted: the batch's save_session took (session_id, state, status,
    step_id, now), the transaction's (participant_id, campaign_id, state, now, *, status,
    step_id, session_id)."""
    names = [n for n in vars(port) if not n.startswith("_") and callable(getattr(port, n))]
    assert names
    for name in names:
        declared = _shape(getattr(port, name))
        batch, single = getattr(BatchWrites, name), getattr(repository, name)
        for method in (batch, single):
            assert inspect.iscoroutinefunction(method), name
            assert _shape(method) == declared, name
        # Defaults too (a Protocol writes them as ...).
        assert inspect.signature(batch).parameters == inspect.signature(single).parameters


def _shape(method: object) -> list[tuple[str, object, object, bool]]:
    """Each parameter's name, kind, type and whether it has a default."""
    return [
        (p.name, p.kind, p.annotation, p.default is inspect.Parameter.empty)
        for p in inspect.signature(method).parameters.values()  # type: ignore[arg-type]
    ]
