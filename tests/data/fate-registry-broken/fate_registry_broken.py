"""A plugin that cannot load: it imports a module that does not exist."""

import fate_registry_no_such_dependency  # noqa: F401
