"""``fate-registry demo``: the product at work in one command, printing each step.

Starts ``fate-registry serve`` and the reference service (``contrib/fate-reference-service``)
on free loopback ports, lets the service register itself, fetches features for a few thousand
ids, asks each of the four decisions once through the hook gateway, then stops both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import requests

from .apireader import Progress
from .registry import Registry

SERVER = "THIRD"
HEALTH_INTERVAL = 2.0  # seconds: the demo's serve checks the reference service this often
PARTY, OTHER_PARTY = "9999", "10000"
Say = Callable[[str], None]
INSTALL = "pip install ./contrib/fate-reference-service (from a fate-registry checkout)"


class DemoFailed(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def reference_service_path() -> str | None:
    """Where ``fate_reference_service`` can be imported from: None when it is installed, the
    source checkout's ``contrib/fate-reference-service`` otherwise; DemoFailed when neither."""
    if importlib.util.find_spec("fate_reference_service") is not None:
        return None
    checkout = Path(__file__).resolve().parents[2] / "contrib" / "fate-reference-service"
    if (checkout / "fate_reference_service").is_dir():
        return str(checkout)
    raise DemoFailed(f"the demo needs the reference service: {INSTALL}")


def check_reference_service(env: dict[str, str]) -> None:
    """DemoFailed, one line with the install command, when the reference service cannot be
    imported with ``env`` (installed without its dependencies, say): found out before anything
    is started, not from a traceback in its log."""
    try:
        checked = subprocess.run(
            [sys.executable, "-c", "import fate_reference_service.__main__"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DemoFailed("the reference service did not load within 60 s") from None
    if checked.returncode != 0:
        problem = _last_line(checked.stderr) or f"exit code {checked.returncode}"
        raise DemoFailed(
            f"the demo needs the reference service, which cannot start here ({problem}): {INSTALL}"
        )


def _last_line(text: str) -> str:
    """The last non-blank line of a process's output: the exception of a traceback."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(command: list[str], log: IO[bytes], env: dict[str, str]) -> Iterator[Any]:
    """A child process, stopped (by its own id) when the block ends."""
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(what: str, ready: Callable[[], bool], process: Any, log: Path) -> None:
    """Until ``ready()``; DemoFailed with the last line of the process's log (the exception of
    a traceback) when it ends first or takes over 60 s."""
    deadline = time.monotonic() + 60
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            why = _last_line(log.read_text(errors="replace")) or "no output"
            raise DemoFailed(f"{what} did not start: {why}")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
        return True
    except requests.ConnectionError:
        return False


def client_headers(app_key: str, secret: str, full_path: str, body: str) -> dict[str, str]:
    """Headers of a client request signed with FATE's HMAC scheme (see the contract)."""
    timestamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(8)
    lines = [timestamp, nonce, app_key, full_path.rstrip("?"), body, ""]
    digest = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    return {"TIMESTAMP": timestamp, "NONCE": nonce, "APP_KEY": app_key, "SIGNATURE": signature}


def run(count: int = 5000, say: Say = print, *, keep: bool = False) -> None:
    """The whole demo; DemoFailed at the first step that fails. With ``keep``, both stay up
    until Ctrl-C (or until serve ends), for a look at the console and ``status``."""
    extra_path = reference_service_path()
    site_key, app_key, app_secret = secrets.token_hex(16), "demo-client", secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="fate-registry-demo-") as scratch, ExitStack() as stack:
        home = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
        if extra_path:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
        check_reference_service(env)
        db_url = f"sqlite:///{home / 'registry.db'}"
        registry_port, service_port = _free_port(), _free_port()
        registry_url = f"http://127.0.0.1:{registry_port}"

        say(f"1. fate-registry serve on {registry_url} (database {home / 'registry.db'})")
        serve_log = home / "serve.log"
        serve = stack.enter_context(
            _process(
                [sys.executable, "-m", "fate_registry.cli", "--db", db_url, "serve",
                 "--port", str(registry_port), "--log-level", "warning"],
                stack.enter_context(serve_log.open("wb")),
                {**env, "FATE_REGISTRY_HOOKS__SERVER_NAME": SERVER,
                 "FATE_REGISTRY_HEALTH__INTERVAL": str(HEALTH_INTERVAL)},
            )
        )  # fmt: skip
        _wait_for("fate-registry serve", lambda: _answers(registry_url), serve, serve_log)

        say(
            f"2. reference service {SERVER} on http://127.0.0.1:{service_port}; it registers itself"
        )
        service_log = home / "service.log"
        service = stack.enter_context(
            _process(
                [sys.executable, "-m", "fate_reference_service", "--registry", registry_url,
                 "--name", SERVER, "--port", str(service_port), "--site-key", site_key,
                 "--app-key", f"{app_key}={app_secret}", "--allow-party", PARTY,
                 "--data-dir", str(home / "jobs")],
                stack.enter_context(service_log.open("wb")),
                env,
            )
        )  # fmt: skip
        _wait_for(
            "the reference service",
            lambda: b"registered with" in service_log.read_bytes(),
            service,
            service_log,
        )
        registry = stack.enter_context(Registry(db_url))
        names = ", ".join(s.service_name for s in registry.services(SERVER))
        say(f"   registered over the registry's HTTP API: server {SERVER}, services {names}")

        _fetch(registry, count, home, say)
        _decisions(registry_url, app_key, app_secret, say)
        if keep:
            _keep(registry_url, db_url, service.pid, serve, say)
        say("5. stopping the reference service and the registry")
    say("done")


def _keep(registry_url: str, db_url: str, service_pid: int, serve: Any, say: Say) -> None:
    """Leave both running until Ctrl-C: what to look at, and how to stop the service."""
    say(
        f"   both keep running (Ctrl-C stops them):\n"
        f"   console:  {registry_url}/ui\n"
        f"   status:   fate-registry --url {registry_url} status\n"
        f"   stop the reference service to see it turn critical within "
        f"{2 * HEALTH_INTERVAL:g} s: kill {service_pid}"
    )
    try:
        while serve.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("")


def _fetch(registry: Registry, count: int, home: Path, say: Say) -> None:
    say(f"3. ApiReader: features of {count:,} ids through upload, query and download")
    seen: set[str] = set()

    def progress(event: Progress) -> None:
        if event.step == "upload" and event.job_id and "upload" not in seen:
            seen.add("upload")
            say(f"   upload: {event.bytes:,} bytes sent, the service's job id is {event.job_id}")
        elif event.step == "wait":
            say(f"   query: job {event.status} after {event.elapsed:.1f} s")
        elif event.step == "done":
            say(f"   download: {event.rows:,} rows, {event.bytes:,} bytes")

    dest = home / "features.csv"
    ids = (f"demo-{i}" for i in range(count))
    result = registry.api_reader(SERVER).fetch(
        ids, dest, parameters={"features": ["x0", "x1", "x2"]}, first_poll=0.2, progress=progress
    )
    with dest.open() as features:
        head = [next(features).rstrip("\n") for _ in range(3)]
    say(f"   {result.rows:,} rows in {result.elapsed:.1f} s; the file begins: {' | '.join(head)}")


def _decisions(registry_url: str, app_key: str, app_secret: str, say: Say) -> None:
    say("4. the four decisions through the hook gateway (/v1/hook/<capability>)")
    body = {"job_id": "202601010000000000", "role": "host"}
    body_text = json.dumps(body)
    full_path = "/v1/job/query?"

    def ask(capability: str, request: dict[str, Any]) -> dict[str, Any]:
        reply = requests.post(f"{registry_url}/v1/hook/{capability}", json=request, timeout=30)
        answer: dict[str, Any] = reply.json()
        verdict = "allow" if answer.get("code") == 0 else "deny"
        say(
            f"   {capability}: {verdict} (code {answer.get('code')}, {answer.get('msg')}); "
            f"decision {answer.get('decision_id')}"
        )
        return answer

    headers = client_headers(app_key, app_secret, full_path, body_text)
    ask(
        "client_authentication",
        {"full_path": full_path, "headers": headers, "form": {}, "data": body_text, "json": body},
    )
    signed = ask("signature", {"party_id": PARTY, "body": body})
    signature = signed.get("site_signature") or signed.get("data")
    ask("site_authentication", {"src_party_id": PARTY, "site_signature": signature, "body": body})
    ask(
        "permission",
        {
            "src_role": None,  # as FATE Flow 1.11 sends it
            "src_party_id": PARTY,
            "role": "host",
            "party_id": OTHER_PARTY,
            "roles": {"guest": [PARTY], "host": [OTHER_PARTY]},
            "component_list": ["reader", "heterolr"],
            "dataset_list": [],
        },
    )
