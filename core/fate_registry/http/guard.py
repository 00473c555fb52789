"""The registration guard: registered addresses must match ``allowed_hosts``, and optionally
answer a TCP connect, before anything is stored."""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import APIError

CONNECT_TIMEOUT = 2.0

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostRules:
    """``allowed_hosts`` parsed once: CIDRs (or single addresses) and host name patterns."""

    networks: tuple[IPNetwork, ...]
    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> HostRules:
        networks: list[IPNetwork] = []
        patterns: list[str] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                patterns.append(entry.strip().lower())
        return cls(tuple(networks), tuple(patterns))

    @property
    def open(self) -> bool:
        return not self.networks and not self.patterns

    def allows(self, host: str) -> bool:
        """Addresses match CIDRs; names match patterns (``*.example.org``), never resolved:
        what a name resolves to can change after the check."""
        if self.open:
            return True
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            name = host.lower().rstrip(".")
            return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)
        if any(address in network for network in self.networks):
            return True
        return any(fnmatch.fnmatchcase(str(address), pattern) for pattern in self.patterns)


def check_allowed(rules: HostRules, host: str) -> None:
    if not rules.allows(host):
        raise APIError(
            403, f"host: {host!r} is not allowed here (setting allowed_hosts); nothing was stored"
        )


def check_reachable(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> None:
    """Open and close a TCP connection, or raise APIError(422) with the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise APIError(
        422,
        f"connectivity check: cannot connect to {host}:{port} ({reason}); nothing was stored",
    )
