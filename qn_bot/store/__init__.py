"""Storage: the schema, the SQL store and its transactions (sql.py), one repository per concern
(idempotency, campaigns, participants, audiences, sessions, outbox, facilitators, kv, the
digest's reads), the batched writes of group commit, migrations. The Protocols the rest of
qn-bot depends on are in qn_bot.repositories."""

from qn_bot.store.sql import Store, Tx

__all__ = ["Store", "Tx"]
