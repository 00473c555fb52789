"""Stored secrets kept out of what people read: HTTP replies, the command line's listings and
the dispatcher's log. Only what is shown is masked; calls and ``export`` get the real values.

Two levels. ``mask_secrets``: the values under secret-looking names (SECRET_NAME), at any depth
and in lists, and such parameters in a URL's query. ``everything=True``: every stored value, for
a reader who is not trusted with any (no admin token, where tokens are set).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from .models import Service

MASK = "********"
# Substrings of names whose values are secret: password, passwd, passphrase, db_pass ("pass"),
# api_key, private_key, access_token, site_signature, ...; "sig" only as a word of its own
# (X-Sig, sig=), not in "signers". Masking a harmless value ("bypass") costs little; showing a
# secret cannot be undone.
SECRET_NAME = re.compile(
    r"auth|token|secret|pass|pwd|key|signature|(?<![a-z])sig(?![a-z])|cookie|credential"
    r"|session|jwt|bearer|private|salt|otp|ticket",
    re.IGNORECASE,
)
_URL_QUERY = re.compile(r"(/[^\s?'\"]*)\?[^\s'\")]+")  # a path and its query, in free text


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and SECRET_NAME.search(name) is not None


def mask_secrets(value: Any) -> Any:
    """``value`` with the values under secret-looking names masked, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if is_secret_name(k) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def mask_values(value: dict[str, Any], *, everything: bool = False) -> dict[str, Any]:
    """A stored ``params``, ``data`` or ``headers`` object as shown: every value masked
    (``everything``), or those under secret-looking names."""
    if everything:
        return dict.fromkeys(value, MASK)
    masked: dict[str, Any] = mask_secrets(value)
    return masked


def mask_query(url: str, *, everything: bool = False) -> str:
    """``url`` (or a path) with the values of its query and fragment parameters masked: all
    of them, or those under secret-looking names (``/p?token=abc&x=1`` becomes
    ``/p?token=********&x=1``)."""
    rest, hash_mark, fragment = url.partition("#")
    path, question_mark, query = rest.partition("?")
    return (
        path
        + question_mark
        + _mask_pairs(query, everything)
        + hash_mark
        + _mask_pairs(fragment, everything)
    )


def _mask_pairs(pairs: str, everything: bool) -> str:
    if not pairs:
        return pairs
    shown = []
    for pair in pairs.split("&"):
        name, equals, _ = pair.partition("=")
        secret = equals and (everything or is_secret_name(unquote_plus(name)))
        shown.append(f"{name}={MASK}" if secret else pair)
    return "&".join(shown)


def mask_service(service: Service, *, everything: bool = False) -> Service:
    """A service as shown: its ``params``, ``data`` and ``headers``, and the query of its
    ``uri`` and ``url``, masked at the level asked for."""
    return service.model_copy(
        update={
            "uri": mask_query(service.uri, everything=everything),
            "url": mask_query(service.url, everything=everything),
            "params": mask_values(service.params, everything=everything),
            "data": mask_values(service.data, everything=everything),
            "headers": mask_values(service.headers, everything=everything),
        }
    )


def mask_url_queries(text: str) -> str:
    """Free text (an exception's message) with the query of every path in it masked whole:
    ``url: /allow?token=abc (Caused by ...)`` -> ``url: /allow?*** (Caused by ...)``."""
    return _URL_QUERY.sub(r"\1?***", text)
