"""A FATE Flow process, as far as its hooks go: the stand-ins of ``standins/`` for FATE Flow 1.x
(1.9 to 1.11) or 2.x (2.0 to 2.2) on ``sys.path``, a ``conf/service_conf.yaml`` under a
temporary directory, and ``HookManager.init()``, which imports the modules named in
``hook_module`` by name."""

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import yaml

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "standins"
PACKAGE_ROOT = HERE.parent
README = PACKAGE_ROOT / "README.md"
OWNED = ("fate_flow", "fate_arch", "flask", "fate_registry_hooks")


def _readme_blocks() -> list:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [yaml.safe_load(block) for block in blocks]


def readme_service_conf(major: int = 1) -> Dict[str, Any]:
    """The service_conf.yaml lines the README tells operators of FATE Flow ``major`` to add,
    parsed: the hook modules and the ``fate_registry`` section, and that line's switches."""
    blocks = _readme_blocks()
    conf = dict(next(block for block in blocks if "hook_module" in block))
    for block in blocks:
        client = block.get("authentication", {}).get("client")  # 2.x: a boolean
        if client is not None and isinstance(client, bool) == (major == 2):
            conf.update(block)
    return conf


def _forget_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in OWNED:
            del sys.modules[name]


@contextlib.contextmanager
def fate_flow_process(
    service_conf: Dict[str, Any], base: Path, major: int = 1, conf_path: bool = True
) -> Iterator[Any]:
    """FATE Flow ``major`` started with ``service_conf``: yields its ``HookManager`` after
    ``init()``. For 2.x, ``conf_path`` sets ``DEFAULT_SERVER_CONF_PATH`` as an operator of 2.1
    or 2.2 may; without it the configuration is found where 2.0 looks."""
    (base / "conf").mkdir(parents=True, exist_ok=True)
    (base / "conf" / "service_conf.yaml").write_text(yaml.safe_dump(service_conf))
    saved_path, saved_base = list(sys.path), os.environ.get("FATE_PROJECT_BASE")
    os.environ["FATE_PROJECT_BASE"] = str(base if not (major == 2 and conf_path) else "/nowhere")
    sys.path[:0] = [str(STANDINS / f"fate_flow_{major}"), str(STANDINS / "common")]
    sys.path.append(str(PACKAGE_ROOT))  # an installed fate-flow-hooks comes first
    _forget_modules()
    try:
        if major == 2 and conf_path:
            import fate_flow.settings

            fate_flow.settings.DEFAULT_SERVER_CONF_PATH = str(base / "conf")
        from fate_flow.hook import HookManager

        HookManager.init()
        yield HookManager
    finally:
        _forget_modules()
        sys.path[:] = saved_path
        if saved_base is None:
            del os.environ["FATE_PROJECT_BASE"]
        else:
            os.environ["FATE_PROJECT_BASE"] = saved_base
