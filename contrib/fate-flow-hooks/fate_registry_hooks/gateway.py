"""The one call every hook makes: POST a request to fate-registry's hook gateway and read its
reply. Whenever no answer can be had, it fails closed: a ``Refusal`` with a clear message.

Settings come from the ``fate_registry`` section of FATE Flow's ``service_conf.yaml``, read with
FATE Flow's own configuration reader (so ``local.service_conf.yaml`` overrides it as usual).
FATE Flow 1.x's requests go to ``<url>/v1/hook/<capability>``, 2.x's to ``/v2/hook/...``, which
answers in 2.x's codes.
"""

import json
import math
import threading
from typing import Any, Dict, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

import requests

from . import __version__, flow
from .flow import CONNECTION_ERROR, EXCEPTION_ERROR, log

SECTION = "fate_registry"
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
SUCCESS = 0  # both lines


class Refusal(Exception):
    """No decision could be had, so FATE Flow must refuse. ``message`` is safe to show a
    client: it names the problem, never the registry's address nor the token."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Settings(NamedTuple):
    url: str  # base URL, no trailing slash
    token: Optional[str]
    timeout: float


def parse_settings(section: Any) -> Settings:
    """Settings from the ``fate_registry`` section; a Refusal naming the key when it is wrong."""
    if not isinstance(section, dict) or not section.get("url"):
        raise _misconfigured(f"{SECTION}.url is not set in service_conf.yaml")
    url = section["url"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _misconfigured(f"{SECTION}.url must be an http:// or https:// URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise _misconfigured(
            f"{SECTION}.url must have no user, password, query or fragment "
            f"(a token goes under {SECTION}.token)"
        )
    token = section.get("token") or None
    if token is not None and (not isinstance(token, str) or set(token) & set("\r\n\0")):
        raise _misconfigured(f"{SECTION}.token must be a string on one line")
    timeout = section.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise _misconfigured(f"{SECTION}.timeout must be a number of seconds, 0 < timeout <= 300")
    return Settings(url=url.rstrip("/"), token=token, timeout=float(timeout))


def _misconfigured(problem: str) -> Refusal:
    return Refusal(EXCEPTION_ERROR, f"fate_registry_hooks is not configured: {problem}; refused")


_lock = threading.Lock()
_settings: Optional[Settings] = None
# One keep-alive session per thread: requests does not document Session as thread-safe.
_local = threading.local()


def settings() -> Settings:
    """The settings, read once; a broken section is read again on the next call, so fixing
    the yaml takes effect without a restart (a working one needs a restart to change)."""
    global _settings
    with _lock:
        if _settings is None:
            try:
                section = flow.get_base_config(SECTION, None)
            except ImportError as exc:
                raise _misconfigured(
                    f"FATE Flow's configuration reader is missing: {exc}"
                ) from None
            except ValueError as exc:  # FATE Flow 2.x's reader: a file that is not a mapping
                log.error("fate_registry_hooks cannot read its section: %s", exc)
                raise _misconfigured(
                    "service_conf.yaml cannot be read (see the stat log)"
                ) from None
            _settings = parse_settings(section)
        return _settings


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = f"fate-flow-hooks/{__version__}"
    return session


def call(capability: str, payload: Dict[str, Any]) -> Dict[str, Any]:
    """POST ``payload`` to the gateway's ``capability`` and answer its JSON reply, which has an
    integer ``code``; a Refusal when there is no such reply."""
    config = settings()
    url = f"{config.url}{flow.ROUTE}/{capability}"
    try:  # encoded here, so that what JSON cannot carry is named whatever requests' version
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise Refusal(
            EXCEPTION_ERROR, f"the {capability} request cannot be sent as JSON ({exc}); refused"
        ) from None
    headers = {"Content-Type": "application/json"}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    try:
        response = _session().post(url, data=body, headers=headers, timeout=config.timeout)
    except requests.Timeout:
        log.error("fate-registry at %s did not answer within %g s", url, config.timeout)
        raise Refusal(
            CONNECTION_ERROR,
            f"fate-registry did not answer {capability} within {config.timeout:g} s; refused",
        ) from None
    except requests.RequestException as exc:
        log.error("fate-registry at %s could not be reached: %s", url, type(exc).__name__)
        raise Refusal(
            CONNECTION_ERROR,
            f"fate-registry could not be reached for {capability} ({type(exc).__name__}); refused",
        ) from None
    status = response.status_code
    try:
        reply = response.json()
    except ValueError:
        reply = None
    code = reply.get("code") if isinstance(reply, dict) else None
    # Any integer code is a decision, even beside an HTTP error (an older gateway answered
    # 400/401 with code 101/109); an HTTP error that claims success is none.
    if isinstance(code, bool) or not isinstance(code, int) or (status != 200 and code == SUCCESS):
        log.error("fate-registry at %s answered HTTP %s without a decision", url, status)
        raise Refusal(
            EXCEPTION_ERROR,
            f"fate-registry answered {capability} with HTTP {status} and no decision; refused",
        )
    return reply


def code_and_message(reply: Dict[str, Any]) -> Tuple[int, str]:
    """``(code, msg)`` of a gateway reply (``msg``, or ``message`` as some services write)."""
    code = reply["code"]
    message = reply.get("msg", reply.get("message"))
    if not isinstance(message, str) or not message:
        message = "success" if code == SUCCESS else f"refused by fate-registry (code {code})"
    return code, message


def decide(capability: str, payload: Dict[str, Any]) -> Tuple[int, str]:
    """``(code, message)`` of a decision: code 0 allows; a Refusal's code and message when
    the gateway gave no decision."""
    try:
        return code_and_message(call(capability, payload))
    except Refusal as refusal:
        return refusal.code, refusal.message


def sign(payload: Dict[str, Any]) -> str:
    """The signature of a ``signature`` request; raises Refusal when there is none."""
    reply = call("signature", payload)
    code, message = code_and_message(reply)
    if code != SUCCESS:
        raise Refusal(code, f"fate-registry refused to sign: {message}")
    signature = reply.get("data") or reply.get("site_signature")
    if not isinstance(signature, str):
        raise Refusal(EXCEPTION_ERROR, "fate-registry answered code 0 but no signature; refused")
    return signature
