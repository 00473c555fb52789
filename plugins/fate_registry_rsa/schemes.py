"""The two site signature schemes, with ``cryptography``.

v1, FATE Flow 1.11's: base64 of RSA PKCS#1 v1.5 over SHA-256 of ``json.dumps(body)`` (default
separators, ASCII). It binds the body only, so a captured request can be replayed forever.

v2, ours (opt-in): ``v2:<timestamp ms>:<nonce>:<destination party>:<base64 signature>``, the
signature RSA-PSS (SHA-256, MGF1, 32-byte salt) over a fixed label, the timestamp, the nonce,
the source and destination parties and the body as canonical JSON (sorted keys, no spaces,
UTF-8). The verifier checks the timestamp against a tolerance and accepts a nonce once. It
uses the same RSA keys as v1, so both run side by side while sites migrate.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

V2_PREFIX = "v2:"
V2_LABEL = b"fate-registry site signature v2"
ANY_DESTINATION = "*"
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def fate_message(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def sign_v1(key: rsa.RSAPrivateKey, body: dict[str, Any]) -> str:
    signature = key.sign(fate_message(body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_v1(key: rsa.RSAPublicKey, body: dict[str, Any], signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, fate_message(body), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def v2_message(timestamp: str, nonce: str, src: str, dest: str, body: dict[str, Any]) -> bytes:
    fields = [V2_LABEL, *(f.encode() for f in (timestamp, nonce, src, dest)), canonical(body)]
    return b"\n".join(fields)


def sign_v2(key: rsa.RSAPrivateKey, src: str, dest: str, body: dict[str, Any], now: float) -> str:
    timestamp, nonce = str(round(now * 1000)), secrets.token_hex(16)
    signature = key.sign(v2_message(timestamp, nonce, src, dest, body), _PSS, hashes.SHA256())
    encoded = base64.b64encode(signature).decode("ascii")
    return f"{V2_PREFIX}{timestamp}:{nonce}:{dest}:{encoded}"


@dataclass(frozen=True)
class V2Token:
    timestamp: str
    nonce: str
    dest: str
    signature: bytes

    @property
    def sent_at(self) -> float:
        return int(self.timestamp) / 1000


def parse_v2(token: str) -> V2Token | None:
    parts = token.split(":")
    if len(parts) != 5 or parts[0] != "v2" or not parts[1].isdigit() or not all(parts[2:]):
        return None
    try:
        signature = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        return None
    return V2Token(parts[1], parts[2], parts[3], signature)


def verify_v2(key: rsa.RSAPublicKey, token: V2Token, src: str, body: dict[str, Any]) -> bool:
    message = v2_message(token.timestamp, token.nonce, src, token.dest, body)
    try:
        key.verify(token.signature, message, _PSS, hashes.SHA256())
    except InvalidSignature:
        return False
    return True
