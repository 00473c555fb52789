"""Wheels installed into a fresh virtual environment, as a user's ``pip install`` would: the
slow tests of packaging (tests/test_plugin_wheel.py, tests/test_casbin_package.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_of(source: Path, destination: Path, *names: str) -> Path:
    """A copy of ``names`` of ``source``, so that building leaves the checkout untouched."""
    destination.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests")
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, destination / name, ignore=ignore)
        else:
            shutil.copy(source / name, destination / name)
    return destination


def pip(python: str | Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", *args, "-q"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"pip {args[0]} failed: {done.stderr}"


def install_wheels(home: Path, *projects: Path) -> Path:
    """fate-registry's wheel (built from a copy of this checkout) and the wheels of
    ``projects``, installed into a new virtual environment in ``home``, their dependencies
    from the configured index; the environment's ``bin`` directory."""
    source = copy_of(ROOT, home / "fate-registry", "core", "plugins", "pyproject.toml", "README.md")
    wheels = home / "wheels"
    pip(sys.executable, "wheel", "--no-deps", "-w", str(wheels), str(source), *map(str, projects))
    venv.create(home / "venv", with_pip=True)
    bin_dir = home / "venv" / "bin"
    pip(bin_dir / "python", "install", "--find-links", str(wheels), *map(str, wheels.glob("*.whl")))
    return bin_dir


def user_environ(*prefixes: str) -> dict[str, str]:
    """This process's environment without this test run's virtual environment, Python
    settings and fate-registry settings (nor any variable starting with ``prefixes``)."""
    dropped = ("FATE_REGISTRY_", "VIRTUAL_ENV", "PYTHON", *prefixes)
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
