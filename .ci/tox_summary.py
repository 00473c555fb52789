"""Say which tox environments of this run were skipped, and why: tox's report says only SKIP
for an environment whose Python is missing, and OK for a database suite that skipped every test
because it was given no server. tox runs this last (env ``summary``), so it shows above the
report.

    python tox_summary.py --python ENV=EXECUTABLE ... --database ENV=VARIABLE[,VARIABLE] ...

Mirrors tests/conftest.py: under CI=true the database suites never skip (they use local URLs
and fail when the server is unreachable), elsewhere they skip when the variable is unset or its
server does not answer.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
from urllib.parse import urlsplit

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
DATABASES = {  # variable: the database's name, an example URL
    "FATE_REGISTRY_TEST_POSTGRES_URL": (
        "PostgreSQL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "FATE_REGISTRY_TEST_MYSQL_URL": ("MySQL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def missing_python(executable: str) -> bool:
    """Whether ``executable`` cannot run Python here (absent, or a shim of a version that is not
    selected): tox then skips the environment."""
    try:
        done = subprocess.run([executable, "-c", "pass"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return done.returncode != 0


def database_problem(variable: str) -> str | None:
    """Why the suite of ``variable``'s database skips its tests, or None when it runs them."""
    if os.environ.get("CI", "").lower() == "true":
        return None  # the suites use the local URLs, and fail rather than skip
    url = os.environ.get(variable)
    if not url:
        return f"{variable} is not set (e.g. {DATABASES[variable][1]})"
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS.get(scheme, 0)
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        return f"{variable} names a server that does not answer ({exc.strerror or exc})"
    return None


def pairs(values: list[str]) -> list[tuple[str, str]]:
    """``ENV=VALUE`` arguments as (ENV, VALUE)."""
    return [(env, value) for env, _, value in (item.partition("=") for item in values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", nargs="*", default=[], metavar="ENV=EXECUTABLE")
    parser.add_argument("--database", nargs="*", default=[], metavar="ENV=VARIABLE[,VARIABLE]")
    args = parser.parse_args()

    lines = []
    for env, executable in pairs(args.python):
        if missing_python(executable):
            lines.append(f"{env}: not run (tox says SKIP): no {executable} on this machine")
    for env, variables in pairs(args.database):
        for variable in variables.split(","):
            problem = database_problem(variable)
            if problem:
                lines.append(f"{env}: its {DATABASES[variable][0]} tests skipped: {problem}")
    if lines:
        print("Skipped in this run (tox's report below says OK or SKIP, not why):")
        print("\n".join(f"  {line}" for line in lines))
    else:
        print("Nothing skipped: every environment ran all its tests.")


if __name__ == "__main__":
    main()
