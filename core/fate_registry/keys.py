"""Site keys for the ``rsa`` plugin: generate, import, show, list and delete, with ``cryptography``.

Public keys are stored as PEM. A private key is stored encrypted (PKCS#8 under
``rsa.key_passphrase``) or as the path of a PEM file this process can read; it is never stored in
clear, never listed, never logged and never returned. The plugin reads parsed keys from a
per-process snapshot, reloaded when the registry's revision changes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .canonical import party_of
from .errors import InvalidRegistration, KeyNotFound, KeyStorageError, OwnKeyProtected
from .snapshot import Snapshot

if TYPE_CHECKING:
    from .registry import Registry

__all__ = [
    "KeyInfo",
    "KeyNotFound",
    "KeyStorageError",
    "OwnKeyProtected",
    "SiteKeys",
    "fingerprint",
    "parse_private",
    "parse_public",
    "public_pem",
]

KeyKind = Literal["public", "private"]
KEY_BITS = 2048  # as FATE Flow generates them


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown of a key: never its material when it is private."""

    party_id: str
    kind: KeyKind
    storage: str  # pem, encrypted, file
    fingerprint: str  # SHA-256 of the public key (DER), hex
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "party_id": self.party_id,
            "kind": self.kind,
            "storage": self.storage,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class LoadedKeys:
    public: dict[str, rsa.RSAPublicKey]
    private: dict[str, rsa.RSAPrivateKey]
    broken: dict[str, str]  # party -> why its private key cannot be used


def fingerprint(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def parse_public(pem: str | bytes, field: str = "key") -> rsa.RSAPublicKey:
    """An RSA public key from PEM (``PUBLIC KEY`` or ``RSA PUBLIC KEY``, as FATE exports)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data.strip())
    except (ValueError, TypeError):
        raise InvalidRegistration([(field, "is not a PEM public key")]) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidRegistration([(field, "must be an RSA public key")])
    return key


def parse_private(pem: bytes, password: bytes | None, field: str = "key") -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.strip(), password=password)
    except TypeError:
        raise InvalidRegistration([(field, "is encrypted: give its passphrase")]) from None
    except ValueError:
        raise InvalidRegistration(
            [(field, "is not a PEM private key, or its passphrase is wrong")]
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidRegistration([(field, "must be an RSA private key")])
    return key


class SiteKeys:
    """The registry's site keys: ``reg.keys``."""

    def __init__(self, registry: Registry) -> None:
        from .store.keys import KeyStore

        self.registry = registry
        self.store = KeyStore(registry.engine)
        self._snapshot: Snapshot[LoadedKeys] = Snapshot(registry, self._load)

    # -- writes -----------------------------------------------------------------------------

    def generate(self, party_id: Any, *, private_file: str | Path | None = None) -> KeyInfo:
        """A new RSA key pair for ``party_id`` (this site); its private key encrypted under
        ``rsa.key_passphrase``, or written to ``private_file`` (mode 0600) and stored by path."""
        pid = party_of(party_id)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        private_row = self._private_row(pid, key, private_file, write_file=True)
        self._save(pid, key.public_key(), private_row)
        return self.info(pid, "public")

    def import_public(self, party_id: Any, pem: str | bytes) -> bool:
        """Store another site's public key; True when the party had none (FATE's "save").
        OwnKeyProtected for this site's own party: its public key comes with its private key."""
        pid = party_of(party_id)
        key = parse_public(pem)
        self._refuse_own(pid)
        created = self.store.save([(pid, "public", "pem", public_pem(key), fingerprint(key))])
        self._changed()
        return created

    def import_private(
        self,
        party_id: Any,
        pem: bytes,
        *,
        password: bytes | None = None,
        private_file: str | Path | None = None,
    ) -> KeyInfo:
        """Store this site's existing private key (and its public key): encrypted under
        ``rsa.key_passphrase``, or by the path ``private_file`` of the PEM file given."""
        pid = party_of(party_id)
        if private_file is not None and password is not None:
            raise KeyStorageError(
                "an encrypted key file cannot be kept by its path (the plugin reads it without a "
                "passphrase): store the key encrypted under rsa.key_passphrase instead"
            )
        key = parse_private(pem, password)
        private_row = self._private_row(pid, key, private_file, write_file=False, given=pem)
        self._save(pid, key.public_key(), private_row)
        return self.info(pid, "private")

    def delete(self, party_id: Any, kind: KeyKind | Literal["both"] = "public") -> int:
        """Delete a party's keys of ``kind``; how many went. This site's own public key goes
        only with its private key (``both``): alone, OwnKeyProtected."""
        pid = party_of(party_id)
        if kind == "public":
            self._refuse_own(pid, "delete")
        kinds: tuple[str, ...] = ("public", "private") if kind == "both" else (kind,)
        count = self.store.delete(pid, kinds)
        self._changed()
        return count

    # -- reads ------------------------------------------------------------------------------

    def list(self) -> list[KeyInfo]:
        return [_info(row) for row in self.store.rows()]

    def info(self, party_id: Any, kind: KeyKind = "public") -> KeyInfo:
        rows = self.store.rows(party_of(party_id), kind)
        if not rows:
            raise KeyNotFound(party_of(party_id), kind)
        return _info(rows[0])

    def public_pem(self, party_id: Any) -> str:
        """The PEM of a party's public key: what ``keys show --public`` prints."""
        rows = self.store.rows(party_of(party_id), "public")
        if not rows:
            raise KeyNotFound(party_of(party_id))
        return rows[0].material

    # -- for the plugin (no I/O once loaded) ------------------------------------------------

    def public_key(self, party_id: str) -> rsa.RSAPublicKey | None:
        """A party's public key, None when it has none (or ``party_id`` is not a party id)."""
        pid = _canonical_or_none(party_id)
        return None if pid is None else self._snapshot.get().public.get(pid)

    def private_key(self, party_id: str) -> rsa.RSAPrivateKey:
        """This site's private key; KeyNotFound, or KeyStorageError saying why it is unusable."""
        loaded = self._snapshot.get()
        party_id = _canonical_or_none(party_id) or party_id  # a malformed one is not found
        key = loaded.private.get(party_id)
        if key is not None:
            return key
        if party_id in loaded.broken:
            raise KeyStorageError(loaded.broken[party_id])
        raise KeyNotFound(party_id, "private")

    # -- helpers ----------------------------------------------------------------------------

    def is_own(self, party_id: str) -> bool:
        """Whether ``party_id`` is this site: ``rsa.party_id``, or a party whose private key
        is stored here (read from the database, not the snapshot: a write decides on it)."""
        if party_id == self.registry.settings.rsa.party_id:
            return True
        return bool(self.store.rows(party_id, "private"))

    def _refuse_own(self, party_id: str, action: str = "import") -> None:
        if self.is_own(party_id):
            raise OwnKeyProtected(party_id, action)

    def _passphrase(self) -> bytes | None:
        secret = self.registry.settings.rsa.key_passphrase
        return secret.get_secret_value().encode() if secret is not None else None

    def _private_row(
        self,
        pid: str,
        key: rsa.RSAPrivateKey,
        private_file: str | Path | None,
        *,
        write_file: bool,
        given: bytes | None = None,
    ) -> tuple[str, str, str, str, str]:
        print_ = fingerprint(key.public_key())
        if private_file is not None:
            path = Path(private_file).expanduser().resolve()
            if write_file:
                _write_private_file(path, key)
            elif given is not None and not path.is_file():
                raise KeyStorageError(f"private key file {str(path)!r} does not exist")
            return (pid, "private", "file", str(path), print_)
        passphrase = self._passphrase()
        if passphrase is None:
            raise KeyStorageError(
                "private keys are never stored in clear: set rsa.key_passphrase "
                "(FATE_REGISTRY_RSA__KEY_PASSPHRASE) to store it encrypted, or keep it in a "
                "file of its own (private_file)"
            )
        encrypted = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        ).decode("ascii")
        return (pid, "private", "encrypted", encrypted, print_)

    def _save(
        self, pid: str, public: rsa.RSAPublicKey, private_row: tuple[str, str, str, str, str]
    ) -> None:
        public_row = (pid, "public", "pem", public_pem(public), fingerprint(public))
        self.store.save([private_row, public_row])
        self._changed()

    def _changed(self) -> None:
        self._snapshot.invalidate()
        self.registry.changed()

    def _load(self) -> LoadedKeys:
        public: dict[str, rsa.RSAPublicKey] = {}
        private: dict[str, rsa.RSAPrivateKey] = {}
        broken: dict[str, str] = {}
        passphrase = self._passphrase()
        for row in self.store.rows():
            if row.kind == "public":
                try:
                    public[row.party_id] = parse_public(row.material)
                except InvalidRegistration:
                    continue  # refused at import; cannot happen unless edited by hand
                continue
            try:
                private[row.party_id] = _load_private(row.storage, row.material, passphrase)
            except KeyStorageError as exc:
                broken[row.party_id] = f"the private key of party {row.party_id}: {exc}"
        return LoadedKeys(public, private, broken)


def _canonical_or_none(party_id: Any) -> str | None:
    """Keys are stored by canonical party id: a request's ``010000`` finds 10000's key."""
    try:
        return party_of(party_id)
    except InvalidRegistration:
        return None


def _load_private(storage: str, material: str, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    if storage == "file":
        try:
            pem = Path(material).read_bytes()
        except OSError as exc:
            raise KeyStorageError(f"its file cannot be read ({exc.strerror})") from None
        password = None
    elif storage == "encrypted":
        if passphrase is None:
            raise KeyStorageError("it is encrypted and rsa.key_passphrase is not set")
        pem, password = material.encode("ascii"), passphrase
    else:
        raise KeyStorageError(f"unknown storage {storage!r}")
    try:
        return parse_private(pem, password)
    except InvalidRegistration:
        raise KeyStorageError(
            "it cannot be read: a wrong rsa.key_passphrase, or not a PEM RSA private key "
            "(an encrypted file needs its key stored encrypted instead)"
        ) from None


def _write_private_file(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Write the PEM with mode 0600 from the start; refuse to overwrite a file."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyStorageError(f"{str(path)!r} exists: not overwritten") from None
    except OSError as exc:
        raise KeyStorageError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        party_id=row.party_id,
        kind=row.kind,
        storage=row.storage,
        fingerprint=row.fingerprint,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
