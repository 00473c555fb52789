"""Registering this service with fate-registry (or FATE Flow), over their 1.x HTTP API."""

from __future__ import annotations

import time
from typing import Any

import requests

from .app import SERVICES


class RegistrationFailed(RuntimeError):
    """The registry refused or could not be reached; the message says which call and why."""


def register(
    registry: str,
    name: str,
    host: str,
    port: int,
    token: str | None = None,
    timeout: float = 10.0,
    wait: float = 30.0,
) -> None:
    """Register server ``name`` at ``host:port`` and its seven services on ``registry``.

    A registry that does not answer yet (starting alongside) is tried again for ``wait``
    seconds; a refusal is final."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = registry.rstrip("/")
    calls: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/server/{name}/register", {"host": host, "port": port}),
    ]
    for service, (method, uri) in SERVICES.items():
        calls.append(
            (
                "/v1/service/registry",
                {"server_name": name, "service_name": service, "uri": uri, "method": method},
            )
        )
    with requests.Session() as session:
        session.trust_env = False  # the registry is named explicitly; no proxy in between
        give_up = time.monotonic() + wait
        for path, body in calls:
            while True:
                try:
                    response = session.post(
                        base + path, json=body, headers=headers, timeout=timeout
                    )
                    break
                except requests.RequestException as exc:
                    if time.monotonic() > give_up:
                        raise RegistrationFailed(
                            f"registry at {base} unreachable ({type(exc).__name__})"
                        ) from None
                    time.sleep(0.2)
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if response.status_code != 200 or answer.get("retcode", answer.get("code")) != 0:
                message = answer.get("retmsg") or answer.get("message") or response.reason
                raise RegistrationFailed(f"{path} answered HTTP {response.status_code}: {message}")
