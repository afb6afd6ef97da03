"""Storage: the schema, the SQL store and its transactions, migrations."""

from qn_bot.store.sql import Store, Tx

__all__ = ["Store", "Tx"]
