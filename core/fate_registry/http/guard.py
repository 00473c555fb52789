"""The registration guard: registered addresses must match ``allowed_hosts``, and optionally
answer a TCP connect, before anything is stored."""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .errors import APIError

CONNECT_TIMEOUT = 2.0

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


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
    """Resolve ``host`` and open and close a TCP connection to it, all within ``timeout``, or
    raise APIError(422) with the reason."""
    deadline = time.monotonic() + timeout
    try:
        _connect(_resolve(host, port, timeout), deadline)
        return
    except _NotResolved:
        reason = f"name not resolved within {timeout:g} s"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise APIError(
        422,
        f"connectivity check: cannot connect to {host}:{port} ({reason}); nothing was stored",
    )


class _NotResolved(Exception):
    pass


# getaddrinfo has no timeout of its own: it runs here, and is waited for no longer than the
# check's timeout. A few threads: lookups stuck in a dead resolver cannot pile up threads.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fate-registry-resolve")


def _resolve(host: str, port: int, timeout: float) -> Sequence[_AddressInfo]:
    lookup = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        return lookup.result(timeout=timeout)
    except TimeoutError:
        lookup.cancel()
        raise _NotResolved from None


def _connect(addresses: Sequence[_AddressInfo], deadline: float) -> None:
    """Connect to the first address that answers before ``deadline``, as
    ``socket.create_connection`` does; raise the last error."""
    error: OSError = OSError("no address")
    for family, kind, proto, _, address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(remaining)
            try:
                sock.connect(address)
                return
            except OSError as exc:
                error = exc
    raise error
