"""``fate-reference-service --registry URL --name THIRD``: serve, and register with the registry."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from .app import create_app
from .config import Config
from .registration import RegistrationFailed, register

log = logging.getLogger("fate_reference_service")


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, secret = value.partition("=")
        if not sep or not key or not secret:
            raise SystemExit(f"error: {option} takes KEY=SECRET, got {value!r}")
        pairs[key] = secret
    return pairs


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fate-reference-service",
        description="A reference third-party service for FATE Flow (ApiReader and the four "
        "decisions); registers itself with the registry on start.",
    )
    parser.add_argument(
        "--registry", required=True, help="registry URL, e.g. http://127.0.0.1:9390"
    )
    parser.add_argument("--name", required=True, help="server name to register, e.g. THIRD")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (0: any free)")
    parser.add_argument(
        "--advertise-host", help="address the registry gives callers (default: --host)"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("FATE_REFERENCE_TOKEN"),
        help="the registry's admin token (default $FATE_REFERENCE_TOKEN)",
    )
    parser.add_argument("--data-dir", type=Path, help="where job files go (default: a temp dir)")
    parser.add_argument(
        "--app-key",
        action="append",
        default=[],
        metavar="KEY=SECRET",
        help="a client's APP_KEY and secret for client_authentication (repeatable)",
    )
    parser.add_argument(
        "--site-key",
        default=os.environ.get("FATE_REFERENCE_SITE_KEY"),
        help="secret the sites share for signature and site_authentication "
        "(default $FATE_REFERENCE_SITE_KEY)",
    )
    parser.add_argument(
        "--allow-party",
        action="append",
        default=[],
        metavar="PARTY_ID",
        help="a party whose jobs permission allows (repeatable)",
    )
    return parser.parse_args(argv)


def _register_when_listening(
    server: uvicorn.Server, args: argparse.Namespace, done: list[str]
) -> None:
    """Register once the socket listens (a registry may check it can connect), or stop."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.02)
    port = args.port or server.servers[0].sockets[0].getsockname()[1]
    host = args.advertise_host or args.host
    try:
        register(args.registry, args.name, host, port, args.token)
    except RegistrationFailed as exc:
        done.append(f"registration with the registry failed: {exc}")
        server.should_exit = True
        return
    print(
        f"fate-reference-service: serving {args.name} on http://{host}:{port}, registered "
        f"with {args.registry}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="fate-reference-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        config = Config(
            data_dir=data_dir,
            app_keys=_pairs(args.app_key, "--app-key"),
            site_key=args.site_key,
            allowed_parties=frozenset(args.allow_party),
        )
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(config),
                host=args.host,
                port=args.port,
                log_level="warning",
                timeout_graceful_shutdown=5,
            )
        )
        failures: list[str] = []
        threading.Thread(
            target=_register_when_listening, args=(server, args, failures), daemon=True
        ).start()
        server.run()
    if failures:
        print(f"error: {failures[0]}", file=sys.stderr)
        sys.exit(1)
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
