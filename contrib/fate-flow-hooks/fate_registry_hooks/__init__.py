"""FATE Flow 1.11 hooks that ask fate-registry's hook gateway (``POST <url>/v1/hook/<capability>``).

FATE Flow imports the submodules named in its ``hook_module`` setting; each registers itself with
FATE Flow's ``HookManager``. This package itself registers nothing.
"""

__version__ = "0.1.0"
