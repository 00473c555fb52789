"""`fate-registry keys ...`: generate, import, show, list and delete site keys, on the database
and through a real `serve`; errors that name the option; a private key in no output."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from cli_support import clear_settings, error_line, invoke, ok
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from serve_process import Served, serve

from fate_registry import Registry, Settings
from fate_registry.cli import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND
from fate_registry.client import RegistryClient
from fate_registry.dispatch import Dispatcher
from fate_registry.errors import InvalidRegistration, KeyNotFound
from fate_registry.plugins import build_plugin_manager

PASSPHRASE = "a-cli-test-passphrase"
STORE_ENV = {"FATE_REGISTRY_RSA__KEY_PASSPHRASE": PASSPHRASE}
BODY = {"job_id": "202401011200000000", "role": "host", "party_id": 10000, "conf": {"a": [1]}}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test alone; the test suite's own variables stay."""
    clear_settings(monkeypatch, keep_test=True)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_pem_of(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def secret_lines(pem: bytes | str) -> list[str]:
    """The base64 lines of a PEM: any of them in an output would leak key material."""
    text = pem.decode() if isinstance(pem, bytes) else pem
    return [line for line in text.splitlines() if line and not line.startswith("-----")]


def private_material(db: str, party: str) -> list[str]:
    """What must never be printed of ``party``'s private key: its clear PEM, and the
    encrypted PEM stored in the database."""
    settings = Settings(db_url=db, rsa={"key_passphrase": PASSPHRASE})
    with Registry(db, settings=settings, cache_ttl=0) as registry:
        clear = pem_of(registry.keys.private_key(party))
        stored = [row.material for row in registry.keys.store.rows(party, "private")]
    material = secret_lines(clear) + [line for text in stored for line in secret_lines(text)]
    assert len(material) > 40  # two PEMs of a 2048-bit key: the check below has teeth
    return material


@pytest.fixture
def db(sqlite_url: str) -> str:
    return sqlite_url


# -- local mode -------------------------------------------------------------------------------


def test_generate_stores_the_private_key_encrypted_and_prints_only_public_facts(db: str) -> None:
    result = ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))

    with Registry(db, cache_ttl=0) as registry:
        public = registry.keys.info("9999", "public")
        private = registry.keys.info("9999", "private")
    assert private.storage == "encrypted"
    assert result.stdout == (
        f"generated a key pair for party 9999: fingerprint {public.fingerprint}; private key "
        "stored encrypted in the database\n"
        "send the public key to the other sites: fate-registry keys show --party 9999 --public\n"
    )


def test_generate_json_lists_both_keys_without_material(db: str) -> None:
    result = ok(invoke("--db", db, "keys", "generate", "--party", "9999", "-o", "json",
                       env=STORE_ENV))  # fmt: skip

    rows = json.loads(result.stdout)
    assert [(row["kind"], row["storage"]) for row in rows] == [
        ("public", "pem"),
        ("private", "encrypted"),
    ]
    assert set(rows[0]) == {
        "party_id", "kind", "storage", "fingerprint", "created_at", "updated_at"
    }  # fmt: skip


def test_generate_into_a_private_file(db: str, tmp_path: Path) -> None:
    target = tmp_path / "site.pem"

    result = ok(invoke("--db", db, "keys", "generate", "--party", "9999",
                       "--private-file", str(target)))  # fmt: skip

    assert target.stat().st_mode & 0o777 == 0o600
    assert "private key kept in its file" in result.stdout
    key = serialization.load_pem_private_key(target.read_bytes(), password=None)
    for line in secret_lines(target.read_bytes()):
        assert line not in result.output
    listed = ok(invoke("--db", db, "keys", "list", "-o", "json")).stdout
    assert str(target) not in listed  # the path is material too: never listed
    assert json.loads(listed)[0]["fingerprint"] in result.stdout
    assert isinstance(key, rsa.RSAPrivateKey)


def test_generate_without_a_passphrase_or_file_is_refused(db: str) -> None:
    line = error_line(invoke("--db", db, "keys", "generate", "--party", "9999"), EXIT_INVALID)

    assert line == (
        "error: private keys are never stored in clear: set rsa.key_passphrase "
        "(FATE_REGISTRY_RSA__KEY_PASSPHRASE) to store it encrypted, or give --private-file "
        "PATH to keep it in a file of its own"
    )
    assert ok(invoke("--db", db, "keys", "list")).stdout == ""


def test_generate_does_not_replace_a_key_pair_unless_asked(db: str) -> None:
    ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))
    first = json.loads(ok(invoke("--db", db, "keys", "list", "-o", "json")).stdout)

    refused = invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV)
    assert error_line(refused, EXIT_FAILED).startswith(
        f"error: party 9999 already has a private key (fingerprint {first[0]['fingerprint']}): "
        "'keys generate --replace' makes a new one"
    )
    assert json.loads(ok(invoke("--db", db, "keys", "list", "-o", "json")).stdout) == first

    ok(invoke("--db", db, "keys", "generate", "--party", "9999", "--replace", env=STORE_ENV))
    again = json.loads(ok(invoke("--db", db, "keys", "list", "-o", "json")).stdout)
    assert again[0]["fingerprint"] != first[0]["fingerprint"]


def test_show_public_prints_the_pem_to_send(db: str) -> None:
    ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))

    shown = ok(invoke("--db", db, "keys", "show", "--party", "9999", "--public")).stdout

    with Registry(db, cache_ttl=0) as registry:
        assert shown == registry.keys.public_pem("9999")
        fingerprint = registry.keys.info("9999").fingerprint
    assert shown.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert shown.endswith("-----END PUBLIC KEY-----\n")
    as_json = json.loads(ok(invoke("--db", db, "keys", "show", "--party", "9999", "--public",
                                   "--json")).stdout)  # fmt: skip
    assert as_json == {"party_id": "9999", "fingerprint": fingerprint, "public_key": shown}


def test_the_printed_public_key_verifies_a_signature_of_the_rsa_plugin(
    db: str, tmp_path: Path
) -> None:
    """The round trip between two sites: 9999 generates, sends `keys show --public`; 10000
    imports it, and its rsa plugin accepts what 9999's rsa plugin signs."""
    ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))
    sent = ok(invoke("--db", db, "keys", "show", "--party", "9999", "--public")).stdout
    partner_db = f"sqlite:///{tmp_path / 'partner.db'}"
    ok(invoke("--db", partner_db, "keys", "import", "--party", "9999", "--public", "-",
              input=sent))  # fmt: skip

    with rsa_site(db, "9999") as ours:
        signed = ours.signature({"party_id": "9999", "body": BODY})
    assert signed.allowed and signed.signature
    # FATE's scheme: PKCS#1 v1.5 over SHA-256 of json.dumps(body), checked with the printed PEM
    printed = serialization.load_pem_public_key(sent.encode())
    assert isinstance(printed, rsa.RSAPublicKey)
    printed.verify(
        base64.b64decode(signed.signature),
        json.dumps(BODY).encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    with rsa_site(partner_db, "10000") as partner:
        request = {"src_party_id": "9999", "site_signature": signed.signature, "body": BODY}
        assert partner.site_authentication(request).allowed
        tampered = {**request, "body": {**BODY, "role": "guest"}}
        assert not partner.site_authentication(tampered).allowed


@contextmanager
def rsa_site(db: str, party: str) -> Iterator[Dispatcher]:
    """A site's rsa plugin on ``db``, as party ``party``."""
    settings = Settings(
        db_url=db,
        rsa={"enabled": True, "party_id": party, "key_passphrase": PASSPHRASE},
        hooks={"site_authentication": {"cache": False}, "signature": {"cache": False}},
    )
    with Registry(db, settings=settings, cache_ttl=0) as registry:
        hooks = Dispatcher(registry, plugins=build_plugin_manager(load={"rsa"}))
        try:
            yield hooks
        finally:
            hooks.close()


def test_import_a_public_key_then_replace_it(db: str, tmp_path: Path) -> None:
    first, second = tmp_path / "a.pub", tmp_path / "b.pub"
    first.write_text(public_pem_of(new_key()))
    second.write_text(public_pem_of(new_key()))

    saved = ok(invoke("--db", db, "keys", "import", "--party", "10000", "--public", str(first)))
    replaced = ok(invoke("--db", db, "keys", "import", "--party", "10000", "--public",
                         str(second), "-o", "json"))  # fmt: skip

    with Registry(db, cache_ttl=0) as registry:
        assert registry.keys.public_pem("10000") == second.read_text()
        fingerprint = registry.keys.info("10000").fingerprint
    assert saved.stdout.startswith("saved the public key of party 10000: fingerprint ")
    assert json.loads(replaced.stdout) == {
        "party_id": "10000", "kind": "public", "fingerprint": fingerprint, "created": False
    }  # fmt: skip


def test_a_fate_rsa_public_key_is_imported(db: str, tmp_path: Path) -> None:
    """FATE exports ``-----BEGIN RSA PUBLIC KEY-----`` (PKCS#1) too."""
    key = new_key().public_key()
    pkcs1 = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    (tmp_path / "fate.pub").write_bytes(pkcs1)

    ok(invoke("--db", db, "keys", "import", "--party", "10000", "--public",
              str(tmp_path / "fate.pub")))  # fmt: skip

    shown = ok(invoke("--db", db, "keys", "show", "--party", "10000", "--public")).stdout
    assert shown.startswith("-----BEGIN PUBLIC KEY-----")


def test_import_a_private_key_encrypted_with_a_passphrase(db: str, tmp_path: Path) -> None:
    key = new_key()
    (tmp_path / "site.pem").write_bytes(pem_of(key, b"file-passphrase"))
    args = [
        "--db",
        db,
        "keys",
        "import",
        "--party",
        "9999",
        "--private",
        str(tmp_path / "site.pem"),
    ]

    from_env = ok(invoke(*args, "--passphrase-env", "SITE_PASS",
                         env={**STORE_ENV, "SITE_PASS": "file-passphrase"}))  # fmt: skip
    (tmp_path / "pass.txt").write_text("file-passphrase\n")
    from_file = ok(invoke(*args, "--passphrase-file", str(tmp_path / "pass.txt"), "--replace",
                          env=STORE_ENV))  # fmt: skip

    with Registry(db, cache_ttl=0) as registry:
        assert registry.keys.public_pem("9999") == public_pem_of(key)
        assert registry.keys.info("9999", "private").storage == "encrypted"
    for result in (from_env, from_file):
        assert result.stdout.startswith("imported the private key of party 9999: fingerprint ")
        assert result.stdout.endswith("; stored encrypted in the database\n")
        assert "file-passphrase" not in result.output
    for line in private_material(db, "9999"):
        assert line not in from_env.output + from_file.output


def test_import_a_private_key_by_its_path(db: str, tmp_path: Path) -> None:
    target = tmp_path / "site.pem"
    target.write_bytes(pem_of(new_key()))

    result = ok(invoke("--db", db, "keys", "import", "--party", "9999", "--private", str(target),
                       "--by-path"))  # fmt: skip

    assert result.stdout.endswith("; kept in its file\n")
    with Registry(db, cache_ttl=0) as registry:
        assert registry.keys.store.rows("9999", "private")[0].material == str(target.resolve())


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--party", "bad party", "--public", "{pub}"], {},
         "error: --party: 'bad party' is not a party id: a decimal integer such as 10000"),
        (["--party", "1"], {}, "error: give --public FILE or --private FILE (one of them)"),
        (["--party", "1", "--public", "{pub}", "--private", "{enc}"], {},
         "error: give --public FILE or --private FILE (one of them)"),
        (["--party", "1", "--public", "{enc}"], {},
         "error: --public {enc}: is not a PEM public key"),
        (["--party", "1", "--public", "{missing}"], {},
         "error: cannot read {missing}: No such file or directory"),
        (["--party", "1", "--public", "{pub}", "--by-path"], {},
         "error: --by-path: only with --private"),
        (["--party", "1", "--private", "{enc}"], STORE_ENV,
         "error: --private {enc}: is encrypted: give its passphrase (--passphrase-env VAR or "
         "--passphrase-file FILE)"),
        (["--party", "1", "--private", "{enc}", "--passphrase-env", "WRONG"],
         {**STORE_ENV, "WRONG": "not-it"},
         "error: --private {enc}: is not a PEM private key, or its passphrase is wrong"),
        (["--party", "1", "--private", "{enc}", "--passphrase-env", "UNSET"], STORE_ENV,
         "error: --passphrase-env: $UNSET is not set"),
        (["--party", "1", "--private", "{pub}"], STORE_ENV,
         "error: --private {pub}: is not a PEM private key, or its passphrase is wrong"),
        (["--party", "1", "--private", "{enc}", "--by-path", "--passphrase-env", "RIGHT"],
         {**STORE_ENV, "RIGHT": "file-passphrase"},
         "error: --by-path: an encrypted key file cannot be kept by its path (the plugin reads "
         "it without a passphrase): leave out --by-path to store the key encrypted"),
        (["--party", "1", "--private", "{clear}"], {},
         "error: private keys are never stored in clear: set rsa.key_passphrase "
         "(FATE_REGISTRY_RSA__KEY_PASSPHRASE) to store it encrypted, or give --by-path to keep "
         "it in a file of its own"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)  # fmt: skip
def test_bad_imports_name_the_option_and_change_nothing(
    db: str, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    paths = {
        "pub": tmp_path / "peer.pub",
        "enc": tmp_path / "enc.pem",
        "clear": tmp_path / "clear.pem",
        "missing": tmp_path / "missing.pub",
    }
    key = new_key()
    paths["pub"].write_text(public_pem_of(key))
    paths["enc"].write_bytes(pem_of(key, b"file-passphrase"))
    paths["clear"].write_bytes(pem_of(key))
    named = {name: str(path) for name, path in paths.items()}

    result = invoke("--db", db, "keys", "import", *(a.format(**named) for a in args), env=env)

    assert error_line(result, EXIT_INVALID) == message.format(**named)
    assert ok(invoke("--db", db, "keys", "list")).stdout == ""
    for line in secret_lines(paths["clear"].read_bytes()):
        assert line not in result.output


def test_list_and_show_never_carry_private_material(db: str, tmp_path: Path) -> None:
    ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))
    (tmp_path / "peer.pub").write_text(public_pem_of(new_key()))
    ok(invoke("--db", db, "keys", "import", "--party", "10000", "--public",
              str(tmp_path / "peer.pub")))  # fmt: skip
    outputs = [
        invoke("--db", db, "keys", *args).output
        for args in (
            ["list"], ["list", "-o", "json"], ["list", "-o", "yaml"], ["list", "-o", "table"],
            ["show", "--party", "9999"], ["show", "--party", "9999", "-o", "json"],
            ["show", "--party", "9999", "-o", "yaml"], ["show", "--party", "9999", "--public"],
            ["show", "--party", "9999", "--private"],
        )
    ]  # fmt: skip

    for line in private_material(db, "9999"):
        assert all(line not in output for output in outputs)
    assert "PRIVATE" not in "".join(outputs)


def test_list_rows_and_columns(db: str, tmp_path: Path) -> None:
    ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))
    (tmp_path / "peer.pub").write_text(public_pem_of(new_key()))
    ok(invoke("--db", db, "keys", "import", "--party", "10000", "--public",
              str(tmp_path / "peer.pub")))  # fmt: skip

    plain = ok(invoke("--db", db, "keys", "list")).stdout.splitlines()
    only = ok(invoke("--db", db, "keys", "list", "--party", "10000", "-o", "yaml")).stdout

    assert [[*line.split("\t")[:2], line.split("\t")[3]] for line in plain] == [
        ["10000", "public", "pem"],
        ["9999", "private", "encrypted"],
        ["9999", "public", "pem"],
    ]
    assert all(len(line.split("\t")) == 6 for line in plain)
    assert [(row["party_id"], row["kind"]) for row in yaml.safe_load(only)] == [("10000", "public")]


def test_show_a_private_key_is_refused(db: str) -> None:
    result = invoke("--db", db, "keys", "show", "--party", "9999", "--private")

    assert error_line(result, EXIT_INVALID) == (
        "error: private keys are never shown: they stay where the registry stores them"
    )


def test_a_missing_key_is_exit_3(db: str) -> None:
    for args in (
        ["show", "--party", "9999"],
        ["show", "--party", "9999", "--public"],
        ["delete", "--party", "9999"],
        ["delete", "--party", "9999", "--kind", "both"],
    ):
        line = error_line(invoke("--db", db, "keys", *args), EXIT_NOT_FOUND)
        assert line.startswith("error: party '9999' has no ")


def test_delete_by_kind(db: str, tmp_path: Path) -> None:
    ok(invoke("--db", db, "keys", "generate", "--party", "9999", env=STORE_ENV))

    private = ok(invoke("--db", db, "keys", "delete", "--party", "9999", "--kind", "private"))
    left = ok(invoke("--db", db, "keys", "list")).stdout
    both = ok(invoke("--db", db, "keys", "delete", "--party", "9999", "--kind", "both", "--json"))

    assert private.stdout == "deleted the private key of party 9999\n"
    assert [line.split("\t")[1] for line in left.splitlines()] == ["public"]
    assert json.loads(both.stdout) == {"party_id": "9999", "kind": "both", "deleted": 1}
    assert ok(invoke("--db", db, "keys", "list")).stdout == ""


def test_a_bad_kind_is_a_usage_error(db: str) -> None:
    line = error_line(invoke("--db", db, "keys", "delete", "--party", "1", "--kind", "x"), 2)

    assert line.startswith("error: invalid value for '--kind': 'x' is not one of 'public'")


def test_every_command_on_each_backend(db_url: str, tmp_path: Path) -> None:
    """generate, import, show, list and delete on SQLite, PostgreSQL and MariaDB."""
    (tmp_path / "peer.pub").write_text(public_pem_of(new_key()))
    ok(invoke("--db", db_url, "keys", "generate", "--party", "9999", env=STORE_ENV))
    ok(invoke("--db", db_url, "keys", "import", "--party", "10000", "--public",
              str(tmp_path / "peer.pub")))  # fmt: skip

    listed = json.loads(ok(invoke("--db", db_url, "keys", "list", "--json")).stdout)
    shown = ok(invoke("--db", db_url, "keys", "show", "--party", "10000", "--public")).stdout
    ok(invoke("--db", db_url, "keys", "delete", "--party", "9999", "--kind", "both"))

    assert [(row["party_id"], row["kind"]) for row in listed] == [
        ("10000", "public"), ("9999", "private"), ("9999", "public")
    ]  # fmt: skip
    assert shown == (tmp_path / "peer.pub").read_text()
    remaining = json.loads(ok(invoke("--db", db_url, "keys", "list", "--json")).stdout)
    assert [row["party_id"] for row in remaining] == ["10000"]


# -- remote mode --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def remote_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('keys-remote') / 'registry.db'}"


@pytest.fixture(scope="module")
def server(remote_db: str) -> Iterator[Served]:
    with serve(remote_db) as served:
        yield served


@pytest.fixture
def remote(remote_db: str, server: Served) -> Iterator[str]:
    """The served database as each test starts it: no keys."""
    with Registry(remote_db, cache_ttl=0) as registry:
        for info in registry.keys.list():
            registry.keys.delete(info.party_id, info.kind)
    yield server.url


def test_public_key_commands_are_the_same_remote_and_local(
    remote_db: str, remote: str, tmp_path: Path
) -> None:
    peer = tmp_path / "peer.pub"
    peer.write_text(public_pem_of(new_key()))
    (tmp_path / "bad.pub").write_text("not a key")
    commands = [
        ["import", "--party", "10000", "--public", str(peer)],
        ["import", "--party", "10000", "--public", str(peer), "-o", "json"],
        ["show", "--party", "10000", "--public"],
        ["show", "--party", "10000", "--public", "-o", "yaml"],
        ["show", "--party", "10001", "--public"],
        ["import", "--party", "10001", "--public", str(tmp_path / "bad.pub")],
        ["import", "--party", "bad party", "--public", str(peer)],
        ["delete", "--party", "10000"],
        ["delete", "--party", "10000", "--json"],
    ]
    local_db = f"sqlite:///{tmp_path / 'local.db'}"

    for args in commands:
        local = invoke("--db", local_db, "keys", *args)
        through = invoke("--url", remote, "keys", *args)
        assert (through.exit_code, through.stdout, through.stderr) == (
            local.exit_code, local.stdout, local.stderr
        ), args  # fmt: skip


def test_remote_import_is_what_the_plugin_then_uses(remote_db: str, remote: str) -> None:
    key = new_key()
    ok(invoke("--url", remote, "keys", "import", "--party", "10000", "--public", "-",
              input=public_pem_of(key)))  # fmt: skip

    with Registry(remote_db, cache_ttl=0) as registry:
        assert registry.keys.public_pem("10000") == public_pem_of(key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--party", "9999"],
         "error: 'fate-registry keys generate' makes a private key, which never travels over "
         "HTTP: run it without --url (or $FATE_REGISTRY_URL) on a host that reaches the database"),
        (["import", "--party", "9999", "--private", "site.pem"],
         "error: 'fate-registry keys import' imports a private key, which never travels over "
         "HTTP: run it without --url (or $FATE_REGISTRY_URL) on a host that reaches the database"),
        (["show", "--party", "9999"],
         "error: 'fate-registry keys show' shows details only the database has (over --url, "
         "--public prints the PEM): run it without --url (or $FATE_REGISTRY_URL) on a host that "
         "reaches the database"),
        (["show", "--party", "9999", "--private"],
         "error: private keys are never shown: they stay where the registry stores them"),
        (["list"],
         "error: 'fate-registry keys list' lists what only the database has: run it without "
         "--url (or $FATE_REGISTRY_URL) on a host that reaches the database"),
        (["delete", "--party", "9999", "--kind", "private"],
         "error: --kind private: only public keys can be deleted over the HTTP API: run it "
         "without --url on a host that reaches the database"),
        (["delete", "--party", "9999", "--kind", "both"],
         "error: --kind both: only public keys can be deleted over the HTTP API: run it "
         "without --url on a host that reaches the database"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)  # fmt: skip
def test_what_the_api_cannot_offer_is_refused_in_one_line(
    remote: str, args: list[str], message: str
) -> None:
    assert error_line(invoke("--url", remote, "keys", *args), EXIT_INVALID) == message


def test_the_client_has_the_registrys_key_methods(remote_db: str, remote: str) -> None:
    pem = public_pem_of(new_key())
    with RegistryClient(remote) as client, Registry(remote_db, cache_ttl=0) as registry:
        assert client.keys.import_public(10000, pem) is True
        assert client.keys.import_public("10000", pem) is False
        assert client.keys.public_pem("10000") == registry.keys.public_pem("10000") == pem
        with pytest.raises(KeyNotFound) as missing:
            client.keys.public_pem("10001")
        assert (missing.value.party_id, missing.value.kind) == ("10001", "public")
        with pytest.raises(InvalidRegistration, match=r"^key: is not a PEM public key$"):
            client.keys.import_public("10001", "not a key")
        with pytest.raises(InvalidRegistration, match=r"^kind: only public keys"):
            client.keys.delete("10000", "both")
        assert client.keys.delete("10000") == 1
        assert client.keys.delete("10000") == 0
        assert registry.keys.list() == []


def test_a_protected_server_needs_the_token_for_keys(tmp_path: Path) -> None:
    token = "keys-remote-token-0123456789"
    key = new_key()
    (tmp_path / "peer.pub").write_text(public_pem_of(key))
    env = {"FATE_REGISTRY_ADMIN_TOKENS": token}
    with serve(f"sqlite:///{tmp_path / 'r.db'}", env=env) as served:
        without = invoke("--url", served.url, "keys", "show", "--party", "1", "--public")
        saved = invoke("--url", served.url, "--token", token, "keys", "import", "--party", "1",
                       "--public", str(tmp_path / "peer.pub"))  # fmt: skip
        log = served.log_text()

    assert error_line(without, EXIT_INVALID).endswith("(--token or FATE_REGISTRY_TOKEN)")
    assert saved.exit_code == 0, saved.output
    assert token not in log + without.output + saved.output
