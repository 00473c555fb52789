"""Property-based run of schemathesis over /openapi.json: every route, over a thousand generated
requests, no 5xx and every reply true to its declared schema. Bounded by examples and deadline."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from conftest import reset_database
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from fate_registry import Registry, Settings
from fate_registry.http import create_app

EXAMPLES_PER_ROUTE = 100
MIN_REQUESTS = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
    unsupported_method,
]
# Valid data may still be refused for what the schema cannot know: an unknown name (404), a
# server with services (409), an unreachable address asked to be checked (422), a public key
# whose PEM content is not a key (400: a schema cannot say what a valid key is, see
# UNEXPRESSIBLE). The hook gateway answers invalid data with HTTP 200 and code 101 (5001 at
# /v2/hook), as FATE Flow needs (test_gateway.py and test_gateway_fate2.py check the code): its
# negative cases expect 200.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
            }
        },
        "operations": [
            {
                "include-path-regex": "^/v[12]/hook/",
                "checks": {"negative_data_rejection": {"expected-statuses": ["200"]}},
            }
        ],
    }
)
# Schema-valid but refused with 400 by design: what the schema cannot express. A grant's
# expiry must be in the future and after its not_before, and an audit listing's since before
# its until (each also an ISO 8601 time or a duration, which a pattern cannot check either).
UNEXPRESSIBLE = {
    "POST /v1/key/public/save": positive_data_acceptance,
    "POST /v1/permission/grant": positive_data_acceptance,
    "GET /audit": positive_data_acceptance,
}
GENERATED = "test_generated_requests_get_no_5xx_and_replies_match_the_schema"
requests_made: Counter[str] = Counter()  # by route, "METHOD /path"
counted = False


def _app_over_a_fresh_registry() -> tuple[Registry, FastAPI]:
    # Built at import: schemathesis parametrizes from the schema while pytest collects.
    url = os.environ.get("FATE_REGISTRY_TEST_SCHEMATHESIS_URL")
    if url:  # e.g. a PostgreSQL or MySQL database of its own, emptied first
        reset_database(url)
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='fr-schemathesis-')) / 'registry.db'}"
    registry = Registry(url, cache_ttl=0)
    # Something to find, so reads also take their success paths.
    registry.register_server("fate_test", "127.0.0.1", 8888)
    registry.register_service("fate_test", "upload", "/v1/data/upload")
    # schemathesis calls the app as starlette's test client does, naming it "testserver".
    return registry, create_app(registry, Settings(db_url=url, trusted_hosts=["testserver"]))


registry, app = _app_over_a_fresh_registry()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


def _routes() -> set[str]:
    return {f"{op.method.upper()} {op.path}" for op in _operations()}


def _selected_routes(session: pytest.Session) -> set[str]:
    """Routes whose generated test this session runs (all of them, unless -k or the like)."""
    return {
        item.name.partition("[")[2].removesuffix("]")
        for item in session.items
        if getattr(item, "originalname", None) == GENERATED
    }


def _count() -> None:
    global counted
    counted = True
    assert set(requests_made) == _routes()
    assert sum(requests_made.values()) >= MIN_REQUESTS, requests_made
    print(f"schemathesis: {sum(requests_made.values())} requests", dict(requests_made))


@pytest.fixture(scope="module")
def count_when_done(request: pytest.FixtureRequest) -> Iterator[None]:
    """Count once every generated test has run, whatever the order of the tests: the test
    below does it when it runs last (file order, as CI runs), this finalizer otherwise."""
    yield
    routes = _routes()
    all_ran = _selected_routes(request.session) == routes and routes <= set(requests_made)
    if all_ran and not counted:
        _count()


@schema.parametrize()
@pytest.mark.usefixtures("count_when_done")
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_no_5xx_and_replies_match_the_schema(case):
    route = f"{case.operation.method.upper()} {case.operation.path}"
    requests_made[route] += 1
    case.call_and_validate(checks=[c for c in CHECKS if c is not UNEXPRESSIBLE.get(route)])


def test_the_run_covered_every_route_with_enough_requests(request: pytest.FixtureRequest):
    if _selected_routes(request.session) != _routes():
        pytest.skip("not every generated test runs in this session (-k?): nothing to count")
    if not _routes() <= set(requests_made):
        pytest.skip("the generated tests run after this one: counted when they are done")
    _count()


def _operations():
    return [result.ok() for result in schema.get_all_operations()]
