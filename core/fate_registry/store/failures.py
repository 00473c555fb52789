"""A database that cannot be used now, as the registry reports it: ``RegistryUnavailable`` with a
reason chosen here, never the driver's text, which names the host, port, database and user."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from ..errors import RegistryUnavailable
from .engine import Timeouts, timeouts_of
from .watchdog import WATCHDOG

_TABLES_MISSING = "its tables are missing (was it dropped? `fate-registry db upgrade` creates them)"
_NO_DATABASE = "the database does not exist"
_LOGIN = "the server refused the login"


@contextmanager
def reported(engine: Engine) -> Iterator[None]:
    """Raise ``RegistryUnavailable`` for a failure of the database under ``engine``; other
    errors (bugs, such as a constraint our validation should have caught) pass unchanged."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        failure = unavailable(error, timeouts_of(engine))
        if failure is None:
            raise
        raise failure from error


def unavailable(error: sa_exc.SQLAlchemyError, timeouts: Timeouts) -> RegistryUnavailable | None:
    """The ``RegistryUnavailable`` that ``error`` means, or None when it is not about the
    database being unavailable (a constraint, a syntax error: a bug of ours)."""
    overran = WATCHDOG.overran()
    if isinstance(error, sa_exc.TimeoutError):  # the pool's
        return RegistryUnavailable(
            f"no connection of the pool came free within {timeouts.pool:g} s "
            "(the database is slow or the server overloaded)",
            type(error).__name__,
        )
    if isinstance(error, sa_exc.DisconnectionError):
        return RegistryUnavailable("the connection was lost", "DisconnectionError")
    if not isinstance(error, sa_exc.DBAPIError):
        return None
    orig: BaseException = error.orig if error.orig is not None else error
    if overran is not None:
        reason: str | None = f"it did not answer within {overran:g} s"
    elif _driver(orig) == "psycopg":
        reason = _postgres_reason(orig, timeouts)
    elif _driver(orig) == "pymysql":
        reason = _mysql_reason(orig, timeouts)
    elif _driver(orig) == "sqlite3":
        reason = _sqlite_reason(orig, timeouts)
    else:
        reason = None
    if reason is None and (
        error.connection_invalidated or isinstance(error, sa_exc.InterfaceError)
    ):
        reason = "the connection was lost"
    if reason is None:
        return None
    return RegistryUnavailable(reason, _driver_error(orig))


def _driver_error(orig: BaseException) -> str:
    """The driver's error class and code, for the log: never its text."""
    name = f"{type(orig).__module__}.{type(orig).__qualname__}"
    code = _sqlstate(orig) or _mysql_errno(orig) or getattr(orig, "sqlite_errorname", None)
    return f"{name} ({code})" if code else name


def _took_long(timeouts: Timeouts) -> str:
    return f"a statement took longer than the {timeouts.statement:g} s timeout"


def _postgres_reason(orig: BaseException, timeouts: Timeouts) -> str | None:
    sqlstate = _sqlstate(orig)
    if sqlstate is None:  # psycopg's own connection errors carry none; their text is libpq's
        text = str(orig)
        if "timeout expired" in text:
            return f"no connection within {max(2, math.ceil(timeouts.connect))} s"
        if "Connection refused" in text:
            return "the server refused the connection"
        if "translate host name" in text or "Name or service not known" in text:
            return "the server's host name does not resolve"
        if "closed the connection" in text:
            return "the server closed the connection"
        if "FATAL:  database" in text and "does not exist" in text:
            return _NO_DATABASE
        if "FATAL:  role" in text or "authentication failed" in text or "pg_hba.conf" in text:
            return _LOGIN
        return "the connection failed" if type(orig).__name__ == "OperationalError" else None
    if sqlstate in ("57014", "55P03"):
        return _took_long(timeouts)
    if sqlstate == "25P03":
        return "the server ended a transaction left idle"
    if sqlstate == "3D000":
        return _NO_DATABASE
    if sqlstate in ("42P01", "3F000"):
        return _TABLES_MISSING
    if sqlstate.startswith("28"):
        return _LOGIN
    reasons = {
        "08": "the connection failed",
        "40": "a concurrent transaction conflicted with this one",
        "53": "the server is out of resources (connection slots, memory or disk)",
        "57": "the server is shutting down, starting up or cancelled the statement",
        "58": "the server failed (a system error)",
    }
    return reasons.get(sqlstate[:2])


def _mysql_reason(orig: BaseException, timeouts: Timeouts) -> str | None:
    errno = _mysql_errno(orig)
    text = str(orig)
    if errno == 2003:
        if "timed out" in text:
            return f"no connection within {timeouts.connect:g} s"
        return "the server refused the connection"
    if errno == 2013 and "timed out" in text:
        return f"it did not answer within {timeouts.client:g} s"
    reasons = {
        1040: "the server has no connection slot free",
        1044: _LOGIN,
        1045: _LOGIN,
        1049: _NO_DATABASE,
        1146: _TABLES_MISSING,
        1205: _took_long(timeouts),
        1213: "a concurrent transaction conflicted with this one",
        1969: _took_long(timeouts),
        3024: _took_long(timeouts),
    }
    if errno in reasons:
        return reasons[errno]
    if errno is not None and 2000 <= errno < 3000:  # the client library's: the connection
        return "the connection was lost"
    return None


def _sqlite_reason(orig: BaseException, timeouts: Timeouts) -> str | None:
    name = str(getattr(orig, "sqlite_errorname", ""))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return (
            f"another process held its write lock longer than the {timeouts.statement:g} s "
            "busy timeout"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return "its file cannot be opened"
    if name.startswith(("SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_PERM")):
        return "its file cannot be written"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return "its file is damaged or not a database"
    if str(orig).startswith("no such table"):
        return _TABLES_MISSING
    return None


def _driver(orig: BaseException) -> str:
    return type(orig).__module__.split(".", 1)[0]


def _sqlstate(orig: BaseException) -> str | None:
    sqlstate = getattr(orig, "sqlstate", None) if _driver(orig) == "psycopg" else None
    return sqlstate if isinstance(sqlstate, str) else None


def _mysql_errno(orig: BaseException) -> int | None:
    if _driver(orig) == "pymysql" and orig.args:
        errno = orig.args[0]
        return errno if isinstance(errno, int) else None
    return None
