"""contrib/fate-reference-service is its own package: its own tests pass in this environment."""

from __future__ import annotations

import os
import subprocess
import sys

from reference_processes import REFERENCE


def test_the_reference_service_own_tests_pass() -> None:
    env = {**os.environ, "PYTHONPATH": str(REFERENCE)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REFERENCE / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REFERENCE,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
