"""Fixtures: a stand-in gateway on loopback, and FATE Flow 1.11 started with the README's
service_conf.yaml lines pointing at it."""

import contextlib
import copy
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from fake_gateway import FakeGateway, fake_gateway
from fate_flow_standin import PACKAGE_ROOT, fate_flow_process, readme_service_conf

sys.path.append(str(PACKAGE_ROOT))  # the source, when fate-flow-hooks is not installed


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with fake_gateway() as running:
        yield running


@pytest.fixture
def start_fate_flow(tmp_path: Path, gateway: FakeGateway) -> Iterator[Callable[..., Any]]:
    """``start(**section)``: FATE Flow with the README's lines, ``fate_registry.url`` at the
    stand-in gateway and ``section`` over that section (a value of None removes the key);
    ``start(conf=...)`` uses a whole service_conf instead. Answers its ``HookManager``."""
    with contextlib.ExitStack() as stack:

        def start(conf: Any = None, **section: Any) -> Any:
            if conf is None:
                conf = copy.deepcopy(readme_service_conf())
                conf["party_id"] = 9999
                conf["fate_registry"]["url"] = gateway.url
                for key, value in section.items():
                    if value is None:
                        conf["fate_registry"].pop(key, None)
                    else:
                        conf["fate_registry"][key] = value
            return stack.enter_context(fate_flow_process(conf, tmp_path / "fate"))

        yield start
