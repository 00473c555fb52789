"""``fate-registry keys ...``: the site keys of the ``rsa`` plugin. A private key is never
printed: not in a listing, a reply, a message or an error."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    EXIT_INVALID,
    CliError,
    JsonFlag,
    open_local_registry,
    open_registry,
    read_text,
    settings_of,
    state_of,
)
from .output import OutputOption, chosen, print_data, print_result, print_rows

if TYPE_CHECKING:
    from ..keys import KeyInfo
    from ..registry import Registry

keys_app = typer.Typer(
    help="Site keys of the rsa plugin: generate, import, show, delete.",
    no_args_is_help=True,
)

KEY_COLUMNS = ("party", "kind", "fingerprint", "storage", "created", "updated")
NEVER_SHOWN = "private keys are never shown: they stay where the registry stores them"
STORED_WHERE = {"encrypted": "stored encrypted in the database", "file": "kept in its file"}


class KindChoice(StrEnum):
    public = "public"
    private = "private"
    both = "both"


Party = Annotated[
    str, typer.Option("--party", metavar="PARTY", help="Party id, e.g. 9999.", show_default=False)
]


def key_row(info: KeyInfo) -> list[Any]:
    return [
        info.party_id,
        info.kind,
        info.fingerprint,
        info.storage,
        f"{info.created_at:%F %T}",
        f"{info.updated_at:%F %T}",
    ]


def _party(value: str) -> str:
    from ..canonical import party_of

    return party_of(value, "--party")


def _party_keys(registry: Registry, party: str) -> list[KeyInfo]:
    return [info for info in registry.keys.list() if info.party_id == party]


def _refuse_to_replace(registry: Registry, party: str, command: str) -> None:
    """A site's key pair is what its partners verify with: replacing it is asked for."""
    from ..errors import KeyNotFound

    try:
        existing = registry.keys.info(party, "private")
    except KeyNotFound:
        return
    raise CliError(
        f"party {party} already has a private key (fingerprint {existing.fingerprint}): "
        f"'{command} --replace' makes a new one, and the other sites then need its public key"
    )


def _no_passphrase_hint(ctx: typer.Context, option: str) -> None:
    if settings_of(ctx).rsa.key_passphrase is None:
        raise CliError(
            "private keys are never stored in clear: set rsa.key_passphrase "
            "(FATE_REGISTRY_RSA__KEY_PASSPHRASE) to store it encrypted, or give "
            f"{option} to keep it in a file of its own",
            EXIT_INVALID,
        )


def _print_keys(fmt: Any, message: str, infos: list[KeyInfo]) -> None:
    print_result(fmt, message, [info.as_dict() for info in infos])


@keys_app.command("generate")
def keys_generate(
    ctx: typer.Context,
    party: Party,
    private_file: Annotated[
        Path | None,
        typer.Option(
            "--private-file",
            metavar="PATH",
            help="Write the private key to this new file (mode 0600) and store its path, "
            "instead of storing it encrypted under rsa.key_passphrase.",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the party's existing key pair.")
    ] = False,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Generate this site's RSA key pair (2048 bits, as FATE Flow's).

    The private key is stored encrypted under rsa.key_passphrase
    (FATE_REGISTRY_RSA__KEY_PASSPHRASE), or kept in --private-file; it is never printed. Send
    the public key to the other sites: 'keys show --party PARTY --public' prints it.
    """
    pid = _party(party)
    registry = open_local_registry(ctx, "makes a private key, which never travels over HTTP")
    if private_file is None:
        _no_passphrase_hint(ctx, "--private-file PATH")
    if not replace:
        _refuse_to_replace(registry, pid, "keys generate")
    info = registry.keys.generate(pid, private_file=private_file)
    private = registry.keys.info(pid, "private")
    where = STORED_WHERE[private.storage]
    _print_keys(
        chosen(output, as_json),
        f"generated a key pair for party {pid}: fingerprint {info.fingerprint}; private key "
        f"{where}\nsend the public key to the other sites: "
        f"fate-registry keys show --party {pid} --public",
        [info, private],
    )


@keys_app.command("import")
def keys_import(
    ctx: typer.Context,
    party: Party,
    public: Annotated[
        str | None,
        typer.Option(
            "--public",
            metavar="FILE",
            help="Another site's public key, PEM ('-': stdin).",
        ),
    ] = None,
    private: Annotated[
        str | None,
        typer.Option(
            "--private",
            metavar="FILE",
            help="This site's private key, PEM ('-': stdin); its public key is stored with it.",
        ),
    ] = None,
    by_path: Annotated[
        bool,
        typer.Option(
            "--by-path",
            help="Store the path of the --private file instead of the key encrypted under "
            "rsa.key_passphrase (the file must stay readable by every node that signs).",
        ),
    ] = False,
    passphrase_env: Annotated[
        str | None,
        typer.Option(
            "--passphrase-env",
            metavar="VAR",
            help="The --private file's passphrase is in this environment variable.",
        ),
    ] = None,
    passphrase_file: Annotated[
        str | None,
        typer.Option(
            "--passphrase-file",
            metavar="FILE",
            help="The --private file's passphrase is the first line of this file ('-': stdin).",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the party's existing private key.")
    ] = False,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import another site's public key, or this site's private key.

    A public key replaces the party's previous one (FATE Flow's 'flow key save'). A private
    key is stored encrypted under rsa.key_passphrase, or by its path with --by-path.
    """
    if (public is None) == (private is None):
        raise CliError("give --public FILE or --private FILE (one of them)", EXIT_INVALID)
    pid = _party(party)
    fmt = chosen(output, as_json)
    if public is not None:
        for name, value in (
            ("--by-path", by_path or None),
            ("--passphrase-env", passphrase_env),
            ("--passphrase-file", passphrase_file),
            ("--replace", replace or None),
        ):
            if value is not None:
                raise CliError(f"{name}: only with --private", EXIT_INVALID)
        _import_public(ctx, pid, public, fmt)
        return
    assert private is not None
    registry = open_local_registry(ctx, "imports a private key, which never travels over HTTP")
    password = _passphrase(passphrase_env, passphrase_file, private)
    if by_path and private == "-":
        raise CliError("--by-path: needs --private FILE, not stdin", EXIT_INVALID)
    if by_path and password is not None:
        raise CliError(
            "--by-path: an encrypted key file cannot be kept by its path (the plugin reads it "
            "without a passphrase): leave out --by-path to store the key encrypted",
            EXIT_INVALID,
        )
    pem = _read_bytes(private)
    fingerprint = _check_private(pem, password, private)
    if not by_path:
        _no_passphrase_hint(ctx, "--by-path")
    if not replace:
        _refuse_to_replace(registry, pid, "keys import")
    stored = registry.keys.import_private(
        pid, pem, password=password, private_file=Path(private) if by_path else None
    )
    _print_keys(
        fmt,
        f"imported the private key of party {pid}: fingerprint {fingerprint}; "
        f"{STORED_WHERE[stored.storage]}",
        [registry.keys.info(pid, "public"), stored],
    )


def _import_public(ctx: typer.Context, pid: str, file: str, fmt: Any) -> None:
    from ..keys import fingerprint, parse_public

    pem = read_text(file)
    key = parse_public(pem, f"--public {file}")  # refused naming the option, before any write
    created = open_registry(ctx).keys.import_public(pid, pem)
    print_result(
        fmt,
        f"{'saved' if created else 'replaced'} the public key of party {pid}: "
        f"fingerprint {fingerprint(key)}",
        {"party_id": pid, "kind": "public", "fingerprint": fingerprint(key), "created": created},
    )


def _read_bytes(file: str) -> bytes:
    if file == "-":
        return typer.get_binary_stream("stdin").read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}", EXIT_INVALID) from None


def _passphrase(env: str | None, file: str | None, private: str) -> bytes | None:
    """The passphrase of the private key file, never echoed: from a variable or a file."""
    if env is not None and file is not None:
        raise CliError("--passphrase-env and --passphrase-file exclude each other", EXIT_INVALID)
    if env is not None:
        if env not in os.environ:
            raise CliError(f"--passphrase-env: ${env} is not set", EXIT_INVALID)
        return os.environ[env].encode()
    if file is not None:
        if file == "-" and private == "-":
            raise CliError("--passphrase-file: stdin already carries --private", EXIT_INVALID)
        lines = read_text(file).splitlines()
        return (lines[0] if lines else "").encode()
    return None


def _check_private(pem: bytes, password: bytes | None, file: str) -> str:
    """The fingerprint of the private key in ``pem``; refused naming the option otherwise."""
    from ..errors import InvalidRegistration
    from ..keys import fingerprint, parse_private

    try:
        key = parse_private(pem, password, f"--private {file}")
    except InvalidRegistration as exc:
        if not exc.reason.startswith("is encrypted"):
            raise
        hint = " (--passphrase-env VAR or --passphrase-file FILE)"
        raise InvalidRegistration([(exc.field, exc.reason + hint)]) from None
    return fingerprint(key.public_key())


@keys_app.command("show")
def keys_show(
    ctx: typer.Context,
    party: Party,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Print the public key's PEM, to send to the other sites (json and yaml: with "
            "its fingerprint).",
        ),
    ] = False,
    private: Annotated[bool, typer.Option("--private", hidden=True)] = False,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a party's keys, or with --public its public key's PEM.

    Without --public: kind, fingerprint, storage and times of each key, as 'keys list'.
    """
    if private:
        raise CliError(NEVER_SHOWN, EXIT_INVALID)
    pid = _party(party)
    fmt = chosen(output, as_json)
    if public:
        _show_public(ctx, pid, fmt)
        return
    registry = open_local_registry(
        ctx, "shows details only the database has (over --url, --public prints the PEM)"
    )
    infos = _party_keys(registry, pid)
    if not infos:
        from ..errors import KeyNotFound

        raise KeyNotFound(pid, "public or private")
    print_rows(fmt, KEY_COLUMNS, [key_row(info) for info in infos], [i.as_dict() for i in infos])


def _show_public(ctx: typer.Context, pid: str, fmt: Any) -> None:
    from ..keys import fingerprint, parse_public

    pem = open_registry(ctx).keys.public_pem(pid)
    data = {"party_id": pid, "fingerprint": fingerprint(parse_public(pem)), "public_key": pem}
    if not print_data(fmt, data):
        typer.echo(pem.rstrip("\n"))


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    party: Annotated[
        str | None, typer.Option("--party", metavar="PARTY", help="Only this party's keys.")
    ] = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the keys: party, kind, fingerprint, storage, times.

    Never a key's material. Plain output (the default in a pipe) is one line per key,
    tab-separated, in that order.
    """
    pid = None if party is None else _party(party)
    registry = open_local_registry(ctx, "lists what only the database has")
    infos = [info for info in registry.keys.list() if pid is None or info.party_id == pid]
    rows = [key_row(info) for info in infos]
    print_rows(chosen(output, as_json), KEY_COLUMNS, rows, [info.as_dict() for info in infos])


@keys_app.command("delete")
def keys_delete(
    ctx: typer.Context,
    party: Party,
    kind: Annotated[
        KindChoice,
        typer.Option("--kind", metavar="KIND", help="public, private or both.", show_default=True),
    ] = KindChoice.public,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a party's public key, its private key, or both.

    Exit 3 when it has none of that kind. Over --url only a public key.
    """
    from ..errors import KeyNotFound

    pid = _party(party)
    if kind is not KindChoice.public and state_of(ctx).url is not None:
        raise CliError(
            f"--kind {kind.value}: only public keys can be deleted over the HTTP API: run it "
            "without --url on a host that reaches the database",
            EXIT_INVALID,
        )
    deleted = open_registry(ctx).keys.delete(pid, kind.value)
    if not deleted:
        raise KeyNotFound(pid, "public or private" if kind is KindChoice.both else kind.value)
    what = f"{deleted} key(s)" if kind is KindChoice.both else f"the {kind.value} key"
    print_result(
        chosen(output, as_json),
        f"deleted {what} of party {pid}",
        {"party_id": pid, "kind": kind.value, "deleted": deleted},
    )
