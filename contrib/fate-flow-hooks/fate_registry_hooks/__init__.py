"""FATE Flow 1.9 to 2.2 hooks that ask fate-registry's hook gateway (``POST
<url>/v1/hook/<capability>`` for 1.x, ``/v2/hook/<capability>`` for 2.x; see ``flow``).

FATE Flow imports the submodules named in its ``hook_module`` setting; each registers itself with
FATE Flow's ``HookManager``. This package itself registers nothing.
"""

__version__ = "0.2.0"
