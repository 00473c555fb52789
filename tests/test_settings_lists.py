"""A capability's plugin lists (chain, inline) from the environment: a comma list or a JSON
array, the same for both."""

from __future__ import annotations

from pathlib import Path

import pytest

from fate_registry.settings import load_settings


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("grants", ["grants"]),
        ("grants, rsa", ["grants", "rsa"]),
        ('["grants", "rsa"]', ["grants", "rsa"]),
    ],
)
@pytest.mark.parametrize("field", ["chain", "inline"])
def test_a_plugin_list_is_read_from_the_environment(
    field: str, text: str, names: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no fate-registry.toml found by discovery
    monkeypatch.delenv("FATE_REGISTRY_CONFIG", raising=False)
    monkeypatch.setenv(f"FATE_REGISTRY_HOOKS__PERMISSION__{field.upper()}", text)
    assert getattr(load_settings().hooks.permission, field) == names
