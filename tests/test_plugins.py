"""The plugin manager: entry points loaded one by one, broken ones reported, selection by env."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fate_registry import Registry
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import (
    PluginLoadError,
    UnknownPlugins,
    build_plugin_manager,
    plugin_manager,
    reset_plugin_manager,
)

GOOD = """
from fate_registry import hookimpl
from fate_registry.capabilities import Decision

@hookimpl
def permission(request):
    return Decision.allow("good says yes")
"""
OTHER = """
from fate_registry import hookimpl

@hookimpl
def client_authentication(context, request):
    return None
"""
BROKEN = "raise ImportError('the broken plugin needs a module that is not installed')\n"
BUILT_IN = ["grants", "hmac", "http", "localfeatures", "rsa"]  # fate-registry's own plugins
UNKNOWN_HOOK = """
from fate_registry import hookimpl

@hookimpl
def authorise_everything(request):
    return True
"""
WRONG_ARGS = """
from fate_registry import hookimpl

@hookimpl
def permission(request, user):
    return None
"""
MODULES = {
    "good_plugin": GOOD,
    "other_plugin": OTHER,
    "broken_plugin": BROKEN,
    "unknown_hook_plugin": UNKNOWN_HOOK,
    "wrong_args_plugin": WRONG_ARGS,
}


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in MODULES:
        sys.modules.pop(name, None)


def eps(*names: str) -> list[importlib.metadata.EntryPoint]:
    return [
        importlib.metadata.EntryPoint(name=n, value=f"{n}_plugin", group="fate_registry")
        for n in names
    ]


@pytest.mark.usefixtures("plugin_dir")
def test_a_broken_plugin_is_reported_by_name_and_the_others_load() -> None:
    manager = build_plugin_manager(
        load=None, disable=set(), strict=False, entry_points=eps("good", "broken", "other")
    )
    status = {info.name: info.status for info in manager.listing()}
    assert status == {"good": "loaded", "broken": "broken", "other": "loaded"}
    assert "not installed" in manager.errors["broken"]
    assert manager.pm.has_plugin("good") and not manager.pm.has_plugin("broken")


@pytest.mark.usefixtures("plugin_dir")
def test_strict_mode_makes_a_broken_plugin_fatal() -> None:
    with pytest.raises(PluginLoadError, match="'broken'"):
        build_plugin_manager(
            load=None, disable=set(), strict=True, entry_points=eps("good", "broken")
        )


@pytest.mark.usefixtures("plugin_dir")
def test_unknown_hooks_are_rejected_by_check_pending() -> None:
    manager = build_plugin_manager(
        load=None, disable=set(), strict=False, entry_points=eps("unknown_hook", "good")
    )
    assert "authorise_everything" in manager.errors["unknown_hook"]
    assert [i.name for i in manager.listing() if i.status == "loaded"] == ["good"]


@pytest.mark.usefixtures("plugin_dir")
def test_a_hook_with_unknown_arguments_is_rejected() -> None:
    manager = build_plugin_manager(
        load=None, disable=set(), strict=False, entry_points=eps("wrong_args")
    )
    assert "user" in manager.errors["wrong_args"]


@pytest.mark.usefixtures("plugin_dir")
def test_load_plugins_env_selects_and_empty_loads_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FATE_REGISTRY_LOAD_PLUGINS", "good")
    manager = build_plugin_manager(entry_points=eps("good", "other"))
    assert [i.name for i in manager.listing()] == ["good"]
    assert [i.status for i in manager.listing(all=True)] == ["loaded", "not selected"]
    monkeypatch.setenv("FATE_REGISTRY_LOAD_PLUGINS", "")
    assert build_plugin_manager(entry_points=eps("good", "other")).listing() == []


@pytest.mark.usefixtures("plugin_dir")
def test_disable_plugins_env_blocks_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FATE_REGISTRY_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv("FATE_REGISTRY_DISABLE_PLUGINS", "other, broken")
    manager = build_plugin_manager(entry_points=eps("good", "other", "broken"))
    assert {i.name: i.status for i in manager.listing(all=True)} == {
        "good": "loaded",
        "other": "disabled",
        "broken": "disabled",
    }


@pytest.mark.usefixtures("plugin_dir")
@pytest.mark.parametrize(
    "variable", ["FATE_REGISTRY_LOAD_PLUGINS", "FATE_REGISTRY_DISABLE_PLUGINS"]
)
def test_a_name_matching_no_installed_plugin_is_an_error_naming_the_installed_ones(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("FATE_REGISTRY_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv(variable, "good, newcomr,othre")
    with pytest.raises(UnknownPlugins) as caught:
        build_plugin_manager(entry_points=eps("good", "other"))
    message = str(caught.value)
    assert f"{variable} names no installed plugin: 'newcomr', 'othre'" in message
    assert "installed: good, other" in message


def test_distribution_names_match_however_they_are_spelled() -> None:
    for name in ("fate-registry", "fate_registry", "Fate.Registry"):
        manager = build_plugin_manager(load={name}, disable=set(), strict=True)
        assert [info.name for info in manager.listing()] == BUILT_IN  # fate-registry's own only
    with pytest.raises(UnknownPlugins) as caught:
        build_plugin_manager(load={"fate-registy"}, disable=set())
    message = str(caught.value)
    assert message.startswith("load names no installed plugin: 'fate-registy'; installed: ")
    # whatever else this environment has installed (fate-registry-casbin, say)
    installed = message.partition("; installed: ")[2].partition(" (")[0].split(", ")
    assert set(BUILT_IN) <= set(installed)
    assert "fate-registry" in message.partition(" (distributions ")[2]


@pytest.mark.usefixtures("plugin_dir")
def test_strict_env_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FATE_REGISTRY_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError):
        build_plugin_manager(load=None, disable=set(), entry_points=eps("broken"))


@pytest.mark.usefixtures("plugin_dir")
def test_a_plugin_may_take_a_subset_of_the_arguments() -> None:
    manager = build_plugin_manager(load=None, disable=set(), entry_points=eps("good"))
    outcome = Dispatcher(plugins=manager).permission({"src_role": "guest", "src_party_id": "1"})
    assert (outcome.allowed, outcome.message) == (True, "good says yes")


def test_listing_says_name_distribution_version_and_hooks() -> None:
    manager = build_plugin_manager(load={"http"}, disable=set(), strict=True)
    [http] = manager.listing()
    assert (http.name, http.distribution, http.status) == ("http", "fate-registry", "loaded")
    assert http.version and "permission" in http.hooks and len(http.hooks) == 7


def test_registry_hooks_use_the_installed_plugins(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_REGISTRY_LOAD_PLUGINS", "http")
    reset_plugin_manager()
    try:
        with Registry(sqlite_url, cache_ttl=0) as registry:
            assert [name for name, _ in registry.hooks.chain("permission")] == ["http"]
            assert registry.hooks is registry.hooks
            assert registry.hooks.plugins is plugin_manager()
    finally:
        reset_plugin_manager()
