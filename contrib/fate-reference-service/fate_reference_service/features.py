"""The features this service serves: derived from each id alone, so anyone can check them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

FEATURES = ("x0", "x1", "x2")  # two numbers in [0, 1) and a category 0-9


def feature_values(identifier: str) -> dict[str, str]:
    """Every feature of ``identifier``, as the text written to the feature file."""
    digest = hashlib.blake2b(identifier.encode(), digest_size=8).digest()
    return {
        "x0": f"{int.from_bytes(digest[0:3]) / 16777216:.6f}",
        "x1": f"{int.from_bytes(digest[3:6]) / 16777216:.6f}",
        "x2": str(digest[6] % 10),
    }


def feature_row(identifier: str, features: Sequence[str] = FEATURES) -> str:
    """The CSV line of ``identifier``: the id, then the chosen features, comma-separated."""
    values = feature_values(identifier)
    return ",".join([identifier, *(values[name] for name in features)]) + "\n"
