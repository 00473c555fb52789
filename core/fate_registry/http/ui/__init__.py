"""The read-only console at ``/ui``: server-rendered HTML, templates and static files shipped in
the package, nothing fetched from elsewhere.

Each page is a shell (no data, open like /docs) whose small script fetches the page's content,
``/ui/fragment/<page>``, behind the same read protection as the API: with tokens set it asks for
one, keeps it in the tab only (sessionStorage) and sends it as a bearer header.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from ...capabilities import DECISIONS
from ...status import (
    SHOWN_STATUSES,
    capabilities,
    checker_state,
    counts,
    registry_health,
    server_entries,
    service_entries,
    shown_page,
    shown_server,
    shown_service,
)
from ...window import MINUTES
from ..deps import registry_of
from ..security import access
from .charts import decisions_chart

PAGES = ("overview", "services", "servers", "decisions", "keys", "grants")
PAGE_SIZE = 100
STATIC = Path(__file__).parent / "static"
# Everything the pages load comes from this server; no inline script, no other origin.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

templates = Environment(
    loader=PackageLoader("fate_registry.http.ui", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
router = APIRouter(prefix="/ui", include_in_schema=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")


def _html(text: str) -> HTMLResponse:
    headers = {"Content-Security-Policy": POLICY, "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}  # fmt: skip
    return HTMLResponse(text, headers=headers)


def _ago(iso: str | None) -> str:
    if iso is None:
        return "-"
    seconds = max(0.0, (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds())
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


templates.filters["ago"] = _ago


# -- the shells: no data, no protection (as /docs) -----------------------------------------------


@router.get("")
def overview_shell(request: Request) -> HTMLResponse:
    return _shell(request, "overview")


@router.get("/{page}")
def page_shell(request: Request, page: str) -> HTMLResponse:
    if page not in PAGES or page == "overview":
        return HTMLResponse("not a page of the console", status_code=404)
    return _shell(request, page)


def _shell(request: Request, page: str) -> HTMLResponse:
    interval = request.app.state.settings.health.interval
    refresh = max(1.0, min(interval / 2, 10.0))  # a change shows well within two intervals
    return _html(
        templates.get_template("shell.html").render(page=page, pages=PAGES, refresh=refresh)
    )


# -- the content: read-protected ---------------------------------------------------------------

Status = Annotated[str | None, Query(pattern="^(passing|warning|critical|unchecked)$")]
Text = Annotated[str | None, Query(max_length=64)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]


@router.get("/fragment/overview", **access("read"))
def overview(request: Request) -> HTMLResponse:
    registry = registry_of(request)
    found = registry_health(registry)
    context: dict[str, Any] = {"registry": found}
    if found["database_ok"]:
        statuses = registry.health.store.statuses()
        context.update(
            checker=checker_state(registry),
            servers=counts(server_entries(registry, statuses)),
            services=counts(service_entries(registry, statuses)),
            capabilities=_rates(capabilities(registry.hooks, 15)),
            statuses=SHOWN_STATUSES,
        )
    return _html(templates.get_template("overview.html").render(**context))


@router.get("/fragment/services", **access("read"))
def services(
    request: Request, status: Status = None, q: Text = None, page: PageNumber = 1
) -> HTMLResponse:
    registry = registry_of(request)
    rows = service_entries(registry, registry.health.store.statuses())
    rows = _filtered(rows, status, q, ("server", "service"))
    show = partial(shown_page, registry, show=shown_service)
    return _listing("services.html", rows, page, show, status=status, q=q)


@router.get("/fragment/servers", **access("read"))
def servers(
    request: Request, status: Status = None, q: Text = None, page: PageNumber = 1
) -> HTMLResponse:
    registry = registry_of(request)
    rows = server_entries(registry, registry.health.store.statuses())
    rows = _filtered(rows, status, q, ("name",))
    show = partial(shown_page, registry, show=shown_server)
    return _listing("servers.html", rows, page, show, status=status, q=q)


@router.get("/fragment/decisions", **access("read"))
def decisions(
    request: Request,
    capability: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    window = registry_of(request).hooks.window
    shown = [capability] if capability in DECISIONS else list(DECISIONS)
    charts = [(name, decisions_chart(name, window.minutes(name, MINUTES))) for name in shown]
    recent = [
        {**_decided(d)} for d in window.recent(capability if capability in DECISIONS else None)
    ]
    return _html(
        templates.get_template("decisions.html").render(
            charts=charts, recent=recent, capability=capability, capabilities=DECISIONS
        )
    )


@router.get("/fragment/keys", **access("read"))
def keys(request: Request, page: PageNumber = 1) -> HTMLResponse:
    rows = [info.as_dict() for info in registry_of(request).keys.list()]
    for row in rows:  # what may be shown of a key: its fingerprint, never its material
        row.pop("material", None)
    return _listing("keys.html", rows, page)


@router.get("/fragment/grants", **access("read"))
def grants(request: Request, q: Text = None, page: PageNumber = 1) -> HTMLResponse:
    rows = [entry.as_dict() for entry in registry_of(request).grants.entries()]
    rows = _filtered(rows, None, q, ("party_id", "value"))
    return _listing("grants.html", rows, page, q=q)


# -- helpers -----------------------------------------------------------------------------------


def _filtered(
    rows: list[dict[str, Any]], status: str | None, q: str | None, fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    if status is not None:
        rows = [row for row in rows if row["status"] == status]
    if q:
        needle = q.lower()
        rows = [row for row in rows if any(needle in str(row[f]).lower() for f in fields)]
    return rows


def _listing(
    template: str,
    rows: list[dict[str, Any]],
    page: int,
    show: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    **filters: Any,
) -> HTMLResponse:
    """One page of ``rows``: only its rows are made ready to show (``show``)."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if show is not None:
        shown = show(shown)
    query = urlencode({k: v for k, v in filters.items() if v})
    return _html(
        templates.get_template(template).render(
            rows=shown,
            total=len(rows),
            page=page,
            pages=pages,
            query=query,
            statuses=SHOWN_STATUSES,
            **filters,
        )
    )


def _rates(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for cap in found:
        counted = cap["decisions"]
        total = counted["total"]
        counted["denial_rate"] = (
            (counted["deny"] + counted["failed_closed"]) / total if total else None
        )
        counted["failed_open_rate"] = counted["failed_open"] / total if total else None
    return found


def _decided(decided: Any) -> dict[str, Any]:
    return {
        "decision_id": decided.decision_id,
        "at": time.strftime("%H:%M:%S", time.localtime(decided.at)),
        "capability": decided.capability,
        "party": decided.party,
        "result": decided.result,
        "plugin": decided.plugin,
        "ms": decided.elapsed * 1000,
        "cached": decided.cached,
    }
