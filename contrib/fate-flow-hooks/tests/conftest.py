"""Fixtures: a stand-in gateway on loopback, and FATE Flow (1.x or 2.x) started with the
README's service_conf.yaml lines pointing at it."""

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
    """``start(major=1, **section)``: FATE Flow 1.x or 2.x with the README's lines for it,
    ``fate_registry.url`` at the stand-in gateway and ``section`` over that section (a value of
    None removes the key); ``start(conf=...)`` uses a whole service_conf instead;
    ``conf_path=False`` finds it where FATE Flow 2.0 looks. Answers its ``HookManager``."""
    with contextlib.ExitStack() as stack:

        def start(major: int = 1, conf: Any = None, conf_path: bool = True, **section: Any) -> Any:
            if conf is None:
                conf = copy.deepcopy(readme_service_conf(major))
                conf["party_id"] = 9999 if major == 1 else "9999"  # as each line's file has it
                conf["fate_registry"]["url"] = gateway.url
                for key, value in section.items():
                    if value is None:
                        conf["fate_registry"].pop(key, None)
                    else:
                        conf["fate_registry"][key] = value
            process = fate_flow_process(conf, tmp_path / "fate", major=major, conf_path=conf_path)
            return stack.enter_context(process)

        yield start


@pytest.fixture(params=["2.0", "2.2"])
def line(request: Any) -> str:
    """A FATE Flow 2.x release: 2.0-style (its configuration directory, fate_client 2.0's jobs)
    or 2.2-style (``DEFAULT_SERVER_CONF_PATH``, fate_client 2.2's jobs)."""
    return str(request.param)


@pytest.fixture
def start_fate_flow_2(start_fate_flow: Callable[..., Any], line: str) -> Callable[..., Any]:
    """``start(**section)``: FATE Flow ``line`` (2.0 or 2.2) as ``start_fate_flow`` starts it."""

    def start(**kwargs: Any) -> Any:
        return start_fate_flow(major=2, conf_path=line != "2.0", **kwargs)

    return start
