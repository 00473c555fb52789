"""A FATE Flow 1.11 process, as far as its hooks go: the stand-ins of ``standins/`` on
``sys.path``, a ``conf/service_conf.yaml`` under a temporary ``FATE_PROJECT_BASE``, and
``HookManager.init()``, which imports the modules named in ``hook_module`` by name."""

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


def readme_service_conf() -> Dict[str, Any]:
    """The service_conf.yaml lines the README tells operators to add, parsed."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    confs = [yaml.safe_load(block) for block in blocks]
    return next(conf for conf in confs if "hook_module" in conf)


def _forget_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in OWNED:
            del sys.modules[name]


@contextlib.contextmanager
def fate_flow_process(service_conf: Dict[str, Any], base: Path) -> Iterator[Any]:
    """FATE Flow started with ``service_conf``: yields its ``HookManager`` after ``init()``."""
    (base / "conf").mkdir(parents=True, exist_ok=True)
    (base / "conf" / "service_conf.yaml").write_text(yaml.safe_dump(service_conf))
    saved_path, saved_base = list(sys.path), os.environ.get("FATE_PROJECT_BASE")
    os.environ["FATE_PROJECT_BASE"] = str(base)
    sys.path.insert(0, str(STANDINS))
    sys.path.append(str(PACKAGE_ROOT))  # an installed fate-flow-hooks comes first
    _forget_modules()
    try:
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
