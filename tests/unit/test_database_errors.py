"""Which PostgreSQL refusals are "try again later" (a citizen's message waits for them) and
which are the operator's to fix. A server starting up, shutting down or out of connections
cannot be had on demand in a test: the driver's errors are made here and wrapped by
SQLAlchemy's own asyncpg adapter, as a real connection would wrap them."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy.exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_dbapi,
)

from qn_bot.errors import DatabaseError, DatabaseUnavailable
from qn_bot.store.database import translate_error

URL = "postgresql+asyncpg://qn:hunter2@127.0.0.1:5432/qn"


def as_sqlalchemy_raises(error: Exception) -> sa_exc.DBAPIError:
    """The error SQLAlchemy raises when asyncpg raised ``error``."""
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
    except dbapi.Error as adapted:
        wrapped = sa_exc.DBAPIError.instance("SELECT 1", None, adapted, dbapi.Error)
        assert isinstance(wrapped, sa_exc.DBAPIError)
        return wrapped
    raise AssertionError("not adapted")


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_postgresql_that_cannot_answer_now_is_tried_again(error: Exception) -> None:
    ours = translate_error(as_sqlalchemy_raises(error), URL)
    assert isinstance(ours, DatabaseUnavailable)
    assert "hunter2" not in str(ours)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.InvalidPasswordError('password authentication failed for user "qn"'),
        asyncpg.exceptions.InvalidCatalogNameError('database "qn" does not exist'),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_postgresql_that_refuses_for_good_is_the_operators_to_fix(error: Exception) -> None:
    ours = translate_error(as_sqlalchemy_raises(error), URL)
    assert isinstance(ours, DatabaseError)
    assert not isinstance(ours, DatabaseUnavailable)
    assert "hunter2" not in str(ours)


def test_a_bug_or_bad_data_is_none_of_these() -> None:
    error = asyncpg.exceptions.UniqueViolationError("duplicate key value")
    assert translate_error(as_sqlalchemy_raises(error), URL) is None
