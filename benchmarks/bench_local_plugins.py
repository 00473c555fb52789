"""The built-in local plugins against their bare computation, in the same run.

    python benchmarks/bench_local_plugins.py [--calls 3000] [--rounds 5] [--pg URL]

(a) hmac: decisions/s through ``Dispatcher`` (the hmac plugin alone, memory nonce store, cache
    off as by default) next to the bare HMAC-SHA1 of the same requests (``scheme.sign`` over the
    signed bytes); as shipped (a worker thread) and inline (``hooks.client_authentication.
    inline``); then with the database nonce store on SQLite.
(b) rsa: v1 verifications/s through ``Dispatcher`` (cache off, a different body each call) next
    to bare ``cryptography`` verification (``json.dumps`` + PKCS#1 v1.5 SHA-256 verify with a
    loaded key); as shipped and inline.
(c) nonce store: ``NonceStore.remember`` writes/s on SQLite (a new file) and PostgreSQL.
Each figure is the median of ``--rounds`` rounds, with the lowest and highest.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_args import positive_int
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fate_registry import Registry, Settings
from fate_registry.capabilities import ClientAuthenticationRequest, SiteAuthenticationRequest
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager
from fate_registry.settings import HmacSettings
from fate_registry_hmac import verify
from fate_registry_hmac.scheme import form_text, sign, signed_bytes
from fate_registry_rsa.schemes import fate_message, sign_v1

APP_KEY, SECRET = "bench-app", "bench-secret"


def rate(calls: int, rounds: int, run: Callable[[int], None]) -> tuple[float, float, float]:
    """(median, lowest, highest) calls per second of ``run(i)`` for i in range(calls)."""
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(calls):
            run(i)
        rates.append(calls / (time.perf_counter() - started))
    return statistics.median(rates), min(rates), max(rates)


def show(label: str, figures: tuple[float, float, float], baseline: float | None = None) -> None:
    median, low, high = figures
    ratio = f"  {median / baseline:.2f}x of bare" if baseline else ""
    print(f"  {label:<46} {median:>9,.0f}/s  (range {low:,.0f} to {high:,.0f}){ratio}")


def signed_requests(count: int) -> list[ClientAuthenticationRequest]:
    body = '{"job_runtime_conf": {"initiator": {"role": "guest", "party_id": 9999}}}'
    now = str(round(time.time() * 1000))
    out = []
    for _ in range(count):
        nonce = str(uuid.uuid4())
        message = signed_bytes(now, nonce, APP_KEY, "/v1/job/submit", body.encode(), b"")
        headers = {"TIMESTAMP": now, "NONCE": nonce, "APP_KEY": APP_KEY,
                   "SIGNATURE": sign(SECRET, message)}  # fmt: skip
        out.append(
            ClientAuthenticationRequest.model_validate(
                {
                    "full_path": "/v1/job/submit?",
                    "headers": headers,
                    "form": {},
                    "data": body,
                    "json": {"job_runtime_conf": {}},
                }
            )
        )
    return out


def dispatcher(db: str, plugin: str, inline: bool, **settings: Any) -> tuple[Registry, Dispatcher]:
    capability = {"hmac": "client_authentication", "rsa": "site_authentication"}[plugin]
    hooks = {capability: {"cache": False, "inline": [plugin] if inline else []}}
    registry = Registry(db, settings=Settings(db_url=db, hooks=hooks, **settings), cache_ttl=1)
    return registry, Dispatcher(registry, plugins=build_plugin_manager(load={plugin}))


def bench_hmac(calls: int, rounds: int, tmp: Path) -> None:
    print("(a) hmac client_authentication")
    requests = signed_requests(calls)

    def bare(i: int) -> None:
        r = requests[i]
        h = r.headers
        message = signed_bytes(h["TIMESTAMP"], h["NONCE"], h["APP_KEY"], r.full_path,
                               r.data.encode(), form_text(r.form))  # fmt: skip
        sign(SECRET, message)

    baseline = rate(calls, rounds, bare)
    show("bare HMAC-SHA1 of the signed bytes", baseline)
    settings = HmacSettings(app_keys={APP_KEY: [SECRET]}, window=3600)
    show(
        "the plugin's verify() called directly",
        rate(calls, rounds, lambda i: verify(requests[i], settings, time.time())),
        baseline[0],
    )
    for store, inline in (("memory", False), ("memory", True), ("database", False)):
        db = f"sqlite:///{tmp / f'hmac-{store}-{inline}.db'}"
        hmac = {"app_keys": {APP_KEY: SECRET}, "nonce_store": store, "window": 3600}
        registry, hooks = dispatcher(db, "hmac", inline, hmac=hmac)
        batches = iter(signed_requests(calls) for _ in range(rounds + 1))
        batch = next(batches)
        assert hooks.client_authentication(batch[0]).allowed

        def through(i: int, hooks: Dispatcher = hooks, batches: Any = batches) -> None:
            nonlocal batch
            if i == 0:
                batch = next(batches)  # fresh nonces every round
            hooks.client_authentication(batch[i])

        where = "inline" if inline else "worker"
        show(f"dispatch, {store} nonces, {where}", rate(calls, rounds, through), baseline[0])
        hooks.close()
        registry.close()


def bench_rsa(calls: int, rounds: int, tmp: Path) -> None:
    print("(b) rsa site_authentication (v1, FATE's scheme)")
    db = f"sqlite:///{tmp / 'rsa.db'}"
    rsa_settings = {"enabled": True, "party_id": "9999", "key_passphrase": "bench-passphrase"}
    with Registry(db, settings=Settings(db_url=db, rsa=rsa_settings)) as registry:
        registry.keys.generate("10000")
        key = registry.keys.private_key("10000")
    public = key.public_key()
    bodies = [{"job_id": f"2024{i:014d}", "role": "host", "party_id": 9999} for i in range(calls)]
    signatures = [sign_v1(key, body) for body in bodies]
    raw = [base64.b64decode(s) for s in signatures]

    def bare(i: int) -> None:
        public.verify(raw[i], fate_message(bodies[i]), padding.PKCS1v15(), hashes.SHA256())

    baseline = rate(calls, rounds, bare)
    show("bare cryptography verify (json.dumps + PKCS#1)", baseline)
    requests = [
        SiteAuthenticationRequest.model_validate(
            {"src_party_id": "10000", "site_signature": s, "body": b}
        )
        for s, b in zip(signatures, bodies, strict=True)
    ]
    for inline in (False, True):
        registry, hooks = dispatcher(db, "rsa", inline, rsa=rsa_settings)
        assert hooks.site_authentication(requests[0]).allowed

        def through(i: int, hooks: Dispatcher = hooks) -> None:
            hooks.site_authentication(requests[i])

        where = "inline" if inline else "worker (as shipped)"
        show(f"dispatch, {where}", rate(calls, rounds, through), baseline[0])
        hooks.close()
        registry.close()


def bench_nonces(calls: int, rounds: int, tmp: Path, pg: str | None) -> None:
    print("(c) nonce store writes")
    for name, db in (("SQLite (WAL)", f"sqlite:///{tmp / 'nonces.db'}"), ("PostgreSQL", pg)):
        if db is None:
            print(f"  {name}: skipped (--pg URL)")
            continue
        with Registry(db) as registry:
            store = registry.nonces.store
            now = int(time.time() * 1000)
            prefix = uuid.uuid4().hex

            def write(i: int, store: Any = store, now: int = now, prefix: str = prefix) -> None:
                store.remember("bench", f"{prefix}-{time.perf_counter_ns()}-{i}", now + 60_000, now)

            show(f"NonceStore.remember on {name}", rate(calls // 3, rounds, write))
            store.purge(2**62)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=positive_int, default=3000)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--pg", help="a PostgreSQL URL for the nonce store figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_hmac(args.calls, args.rounds, Path(tmp))
        bench_rsa(args.calls, args.rounds, Path(tmp))
        bench_nonces(args.calls, args.rounds, Path(tmp), args.pg)


if __name__ == "__main__":
    main()
