"""The one summary ``serve`` logs before it listens: address, database (password masked), schema,
plugins, each capability's chain and policy, and which protections are on."""

from __future__ import annotations

from .. import __version__, schema
from ..capabilities import CAPABILITIES
from ..dispatch import Dispatcher
from ..plugins import plugin_manager
from ..registry import Registry
from ..settings import Settings, masked_db_url
from .header_limits import http_stack


def summary(settings: Settings, registry: Registry, *, workers: int, insecure: bool) -> str:
    """Several lines, one log record: what this server runs with, secrets left out."""
    address = f"http://{settings.host}:{settings.port}"
    head = schema.HEAD
    version = schema.current(registry.engine)
    state = "latest" if version == head else f"this version needs {head}"
    lines = [
        f"fate-registry {__version__} on {address} ({workers} worker{'s' * (workers > 1)})",
        f"database: {masked_db_url(settings.db_url.get_secret_value())}, schema {version} "
        f"({state}), revision {registry.revision}",
        f"http: uvicorn with {http_stack()}; request line and headers at most "
        f"{settings.max_header_bytes} bytes, {settings.max_headers} header fields",
    ]
    manager = plugin_manager()
    plugins = [
        f"{info.name} {info.version or '-'} ({info.status}"
        + (f": {info.error})" if info.status == "broken" else ")")
        for info in manager.listing(all=True)
    ]
    lines.append(f"plugins: {'; '.join(plugins) or 'none'}")
    dispatcher = Dispatcher(settings=settings.hooks, plugins=manager)
    for capability in CAPABILITIES:
        policy = settings.hooks.capability(capability)
        names = [
            name if impl is not None else f"{name} (not loaded)"
            for name, impl in dispatcher.chain(capability)
        ]
        cache = (
            f"cache allow {policy.allow_ttl:g} s, deny {policy.deny_ttl:g} s"
            if policy.cache
            else "no cache"
        )
        lines.append(
            f"{capability}: chain {', '.join(names) or '(empty)'}; timeout {policy.timeout:g} s, "
            f"budget {policy.total_budget:g} s, retries {policy.retries}, failure_policy "
            f"{policy.failure_policy}, default {policy.default}, {cache}"
        )
    health = settings.health
    lines.append(
        f"health checks: every {health.interval:g} s, one prober per database"
        if health.enabled
        else "health checks: off"
    )
    lines.append(f"protections: {protections(settings, insecure)}")
    return "\n  ".join(lines)


def protections(settings: Settings, insecure: bool) -> str:
    """Which protections are on, in words (how many tokens, never their values)."""
    tokens = len(settings.admin_tokens)
    writers = []
    if tokens:
        writers.append(f"{tokens} admin token{'s' * (tokens > 1)}")
    if tokens or settings.hooks.api_authentication:
        writers.append("the client_authentication chain")
    writes = f"need {' or '.join(writers)}" if writers else "OPEN to anyone"
    admins = []
    if tokens:
        admins.append("admin tokens")
    if writers and settings.hmac.admin_app_keys:
        count = len(settings.hmac.admin_app_keys)
        admins.append(f"{count} admin app key{'s' * (count > 1)}")
    if not writers:
        keys_and_grants = "OPEN to anyone"
    else:
        keys_and_grants = f"need {' or '.join(admins)}" if admins else "closed over HTTP"
    reads = "as writes" if settings.protect_reads else "open"
    gateway_protected = tokens and (
        settings.hooks.gateway_protection == "write" or settings.protect_reads
    )
    gateway = "admin tokens" if gateway_protected else "OPEN to anyone"
    hosts = ", ".join(settings.allowed_hosts) or "any"
    check = "on" if settings.check_connectivity else "off"
    parts = [
        f"writes {writes}",
        f"key and grant changes {keys_and_grants}",
        f"reads {reads}",
        f"hook gateway needs {gateway}" if gateway_protected else f"hook gateway {gateway}",
        f"allowed_hosts {hosts}",
        f"connectivity check {check}",
    ]
    if insecure:
        parts.append("--insecure")
    return "; ".join(parts)
