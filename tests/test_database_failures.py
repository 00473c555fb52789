"""A database that cannot be used: ``RegistryUnavailable`` from Python, whatever the backend and the
fault, within the ``db_*`` timeouts, with a message that names no host, port, database or user;
and the first operation after the database is back succeeds. Faults are real: a TCP proxy that
hangs or resets (tcp_proxy.py), a SQLite write lock held by another connection, a full pool.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import reset_database
from http_support import BASE_URL, TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from fate_registry import Registry, RegistryError, RegistryUnavailable, Settings
from fate_registry.http import create_app
from fate_registry.store import create_engine

pytestmark = pytest.mark.db

# Short timeouts, so that each fault shows within seconds (PostgreSQL's connect: 2 s at least).
QUICK = {
    "db_connect_timeout": 2,
    "db_statement_timeout": 1,
    "db_pool_timeout": 1,
    "ready_timeout": 0.5,
}
# Far above the QUICK timeouts, far below "never": a call still waiting this long has no timeout.
PATIENCE = 60.0


def quick_settings(url: Any, **changes: Any) -> Settings:
    return Settings(db_url=str(url), **{**QUICK, **changes})


def call_bounded(call: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """Run ``call`` in a thread; its result or error, and the seconds it took. Fails the test
    if the call is still waiting after PATIENCE seconds (before the fix it would wait forever)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(PATIENCE)
    assert not worker.is_alive(), f"still waiting after {PATIENCE} s: no timeout applied"
    return outcome.get("result"), outcome.get("error"), time.monotonic() - started


def assert_no_connection_details(message: str, url: Any) -> None:
    parsed = make_url(str(url))
    for detail in (parsed.host, str(parsed.port), parsed.database, parsed.username):
        assert detail and detail not in message, f"{detail!r} in {message!r}"


@pytest.fixture
def proxied(server_db_url: str, proxy: TcpProxy) -> Iterator[Registry]:
    """A registry that reaches its database through ``proxy``, with QUICK timeouts."""
    url = proxy.url(server_db_url)
    with Registry(url, settings=quick_settings(url.render_as_string(False))) as registry:
        registry.register_server("a", host="10.0.0.1", port=1)
        yield registry


# -- a hang: the server stops answering, the connections stay open ---------------------------------


def test_a_hung_database_fails_within_its_timeouts_and_the_first_call_after_it_succeeds(
    proxied: Registry, proxy: TcpProxy, server_db_url: str
) -> None:
    proxy.hang()
    # in a statement on a pooled connection, then on a connection opened during the hang
    for _ in range(2):
        _, error, _ = call_bounded(proxied.servers)
        assert isinstance(error, RegistryUnavailable), error
        assert str(error).startswith("the registry database is unavailable: ")
        assert_no_connection_details(str(error), server_db_url)
    proxy.resume()
    assert [server.name for server in proxied.servers()] == ["A"]


def test_a_write_caught_in_a_hang_does_not_block_writes_after_it(
    proxied: Registry, proxy: TcpProxy
) -> None:
    proxy.hang()
    _, error, _ = call_bounded(lambda: proxied.register_server("b", host="10.0.0.2", port=1))
    assert isinstance(error, RegistryUnavailable)
    proxy.resume()
    # The server side of the cut connection may still hold the revision row's lock: the
    # server's statement and idle-transaction timeouts release it.
    server, error, _ = call_bounded(lambda: proxied.register_server("c", host="10.0.0.3", port=1))
    if error is not None:  # waited for the lock past the statement timeout: once at most
        assert isinstance(error, RegistryUnavailable)
        server = proxied.register_server("c", host="10.0.0.3", port=1)
    assert server.name == "C"


# -- a reset: the server went away -----------------------------------------------------------------


def test_a_database_that_went_away_is_unavailable_and_used_again_once_back(
    proxied: Registry, proxy: TcpProxy, server_db_url: str
) -> None:
    proxy.down()
    for call in (proxied.servers, lambda: proxied.register_server("b", host="10.0.0.2", port=1)):
        _, error, _ = call_bounded(call)
        assert isinstance(error, RegistryUnavailable), error
        assert isinstance(error, RegistryError)
        assert_no_connection_details(str(error), server_db_url)
    proxy.up()
    assert [server.name for server in proxied.servers()] == ["A"]


def test_opening_a_registry_on_an_unreachable_database_is_unavailable(
    server_db_url: str, proxy: TcpProxy
) -> None:
    proxy.down()
    url = proxy.url(server_db_url).set(password="hunter2-secret")
    _, error, _ = call_bounded(lambda: Registry(url, settings=quick_settings(url)))
    assert isinstance(error, RegistryUnavailable)
    assert "refused the connection" in str(error)
    assert "hunter2" not in str(error)
    assert_no_connection_details(str(error), url)


def test_a_database_that_does_not_exist_is_unavailable_without_its_name(
    server_db_url: str,
) -> None:
    url = make_url(server_db_url).set(database="fr_no_such_database")
    with pytest.raises(RegistryUnavailable, match="the database does not exist") as caught:
        Registry(url, settings=quick_settings(url))
    assert_no_connection_details(str(caught.value), url)


def test_tables_dropped_under_a_running_registry_are_unavailable(db_url: str) -> None:
    with Registry(db_url, settings=quick_settings(db_url), cache_ttl=0) as registry:
        reset_database(db_url)
        with pytest.raises(RegistryUnavailable, match="its tables are missing"):
            registry.servers()
        with pytest.raises(RegistryUnavailable, match="fate-registry db upgrade"):
            registry.register_server("a", host="10.0.0.1", port=1)


# -- a lock, a full pool ---------------------------------------------------------------------------


def test_sqlite_locked_past_the_busy_timeout_is_unavailable(sqlite_url: str) -> None:
    settings = quick_settings(sqlite_url, db_statement_timeout=0.5)
    with Registry(sqlite_url, settings=settings) as registry:
        holder = sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            _, error, _ = call_bounded(lambda: registry.register_server("a", "10.0.0.1", 1))
        finally:
            holder.rollback()
            holder.close()
        assert isinstance(error, RegistryUnavailable)
        assert "write lock longer than the 0.5 s busy timeout" in str(error)
        assert registry.register_server("a", "10.0.0.1", 1).name == "A"


def test_an_exhausted_pool_is_unavailable_after_the_pool_timeout(db_url: str) -> None:
    with Registry(db_url, settings=quick_settings(db_url, db_pool_timeout=0.2)) as registry:
        pool = registry.engine.pool
        held = [registry.engine.connect() for _ in range(pool.size() + pool._max_overflow)]  # type: ignore[attr-defined]
        try:
            _, error, _ = call_bounded(registry.servers)
        finally:
            for conn in held:
                conn.close()
        assert isinstance(error, RegistryUnavailable)
        assert "no connection of the pool came free within 0.2 s" in str(error)
        assert registry.servers() == []


# -- the timeouts each backend is given ------------------------------------------------------------


def test_every_backend_gets_the_timeouts_of_the_settings(db_url: str) -> None:
    settings = Settings(db_url=db_url, db_statement_timeout=7)
    with Registry(db_url, settings=settings) as registry, registry.engine.connect() as conn:
        backend = registry.engine.dialect.name
        if backend == "postgresql":
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "7s"
            assert conn.connection.dbapi_connection.info.get_parameters()["connect_timeout"] == "3"  # type: ignore[union-attr]
        elif backend == "mysql":
            assert conn.execute(text("SELECT @@innodb_lock_wait_timeout")).scalar() == 7
        else:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 7000
        assert registry.engine.pool.timeout() == 5  # type: ignore[attr-defined]


def test_options_in_the_database_url_win_over_the_settings(server_db_url: str) -> None:
    postgres = make_url(server_db_url).get_backend_name() == "postgresql"
    query = {"options": "-c statement_timeout=4000"} if postgres else {"read_timeout": "4"}
    engine = create_engine(make_url(server_db_url).update_query_dict(query))
    try:
        with engine.connect() as conn:
            if postgres:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "4s"
            else:
                assert conn.connection.dbapi_connection._read_timeout == 4  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_a_statement_the_server_never_answers_is_cut_after_the_client_timeout(
    proxied: Registry, proxy: TcpProxy
) -> None:
    from fate_registry.store.failures import reported

    def query_during_a_hang() -> None:
        with reported(proxied.engine), proxied.engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # checked out and answered: in use when it hangs
            proxy.hang()
            conn.execute(text("SELECT 1"))

    _, error, _ = call_bounded(query_during_a_hang)
    assert isinstance(error, RegistryUnavailable)
    assert str(error) == "the registry database is unavailable: it did not answer within 2 s"
    proxy.resume()
    assert len(proxied.servers()) == 1


# -- over HTTP -------------------------------------------------------------------------------------


@contextmanager
def served(registry: Registry) -> Iterator[TestClient]:
    app = create_app(registry, registry.settings)
    # A Host the server answers (its Host header check refuses TestClient's "testserver").
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


def test_unavailable_is_503_code_100_with_a_warning_and_no_traceback(
    proxied: Registry, proxy: TcpProxy, server_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with served(proxied) as client:
        proxy.down()
        caplog.clear()
        v1 = client.post("/v1/server/get")
        v2 = client.post("/v2/server/registry", json={"server_name": "b", "host": "h", "port": 1})
    assert (v1.status_code, v1.json()["retcode"]) == (503, 100)
    assert (v2.status_code, v2.json()["code"]) == (503, 100)
    assert v1.json()["retmsg"].startswith("the registry database is unavailable: ")
    assert v2.json()["message"] == v1.json()["retmsg"]
    assert_no_connection_details(v1.text + v2.text, server_db_url)
    assert not [record for record in caplog.records if record.exc_info]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("unavailable" in message for message in warnings)
    assert_no_connection_details("\n".join(warnings), server_db_url)


def test_readyz_answers_503_within_its_timeout_while_the_database_hangs(
    proxied: Registry, proxy: TcpProxy, server_db_url: str
) -> None:
    with served(proxied) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        proxy.hang()
        for _ in range(3):  # a check left hanging is shared, not piled up
            reply, error, _ = call_bounded(lambda: client.get("/readyz"))
            assert error is None
            assert reply.status_code == 503
            # its own timeout answered, not the check (which fails later, and says why)
            assert reply.json() == {
                "status": "unavailable",
                "reason": "the registry database did not answer within 0.5 s",
            }
        assert client.get("/healthz").status_code == 200
        proxy.resume()


def test_readyz_never_waits_behind_the_pool(db_url: str) -> None:
    settings = quick_settings(db_url, db_pool_timeout=30)
    with Registry(db_url, settings=settings) as registry, served(registry) as client:
        pool = registry.engine.pool
        held = [registry.engine.connect() for _ in range(pool.size() + pool._max_overflow)]  # type: ignore[attr-defined]
        try:
            reply, error, seconds = call_bounded(lambda: client.get("/readyz"))
        finally:
            for conn in held:
                conn.close()
    assert error is None
    assert reply.json()["status"] == "ready"
    assert seconds < settings.db_pool_timeout


def test_a_plugin_error_from_an_unavailable_database_carries_no_connection_detail(
    proxied: Registry, proxy: TcpProxy, server_db_url: str
) -> None:
    proxy.down()
    outcome = proxied.hooks.permission({"src_role": "guest", "src_party_id": "9999"})
    assert not outcome.allowed
    assert "the registry database is unavailable" in outcome.message
    assert_no_connection_details(outcome.message, server_db_url)
