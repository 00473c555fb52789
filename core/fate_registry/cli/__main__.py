"""``python -m fate_registry.cli``: the ``fate-registry`` command."""

from . import main

main()
