"""Stand-in for FATE Flow 1.11's ``HookManager``: the same lists, registration functions and
dispatch rules (only the first client authentication, signature and site authentication hook is
used; every permission hook must pass; no hook at all allows), and ``init()`` importing every
module named in ``hook_module`` (values split on ``;``) by name, logging and skipping a module
that fails to import."""

import importlib
from typing import ClassVar, List

from fate_flow.hook.common.parameters import (
    AuthenticationReturn,
    ClientAuthenticationReturn,
    PermissionReturn,
    SignatureReturn,
)
from fate_flow.settings import HOOK_MODULE, stat_logger


class HookManager:
    SITE_SIGNATURE: ClassVar[List] = []
    SITE_AUTHENTICATION: ClassVar[List] = []
    CLIENT_AUTHENTICATION: ClassVar[List] = []
    PERMISSION_CHECK: ClassVar[List] = []

    @staticmethod
    def init():
        for names in (HOOK_MODULE or {}).values():
            for name in names.split(";"):
                try:
                    importlib.import_module(name)
                except Exception:
                    stat_logger.exception("hook module %s failed to import", name)

    @staticmethod
    def register_site_signature_hook(func):
        HookManager.SITE_SIGNATURE.append(func)

    @staticmethod
    def register_site_authentication_hook(func):
        HookManager.SITE_AUTHENTICATION.append(func)

    @staticmethod
    def register_client_authentication_hook(func):
        HookManager.CLIENT_AUTHENTICATION.append(func)

    @staticmethod
    def register_permission_check_hook(func):
        HookManager.PERMISSION_CHECK.append(func)

    @staticmethod
    def client_authentication(parm):
        hooks = HookManager.CLIENT_AUTHENTICATION
        return hooks[0](parm) if hooks else ClientAuthenticationReturn()

    @staticmethod
    def site_signature(parm):
        hooks = HookManager.SITE_SIGNATURE
        return hooks[0](parm) if hooks else SignatureReturn()

    @staticmethod
    def site_authentication(parm):
        hooks = HookManager.SITE_AUTHENTICATION
        return hooks[0](parm) if hooks else AuthenticationReturn()

    @staticmethod
    def permission_check(parm):
        for hook in HookManager.PERMISSION_CHECK:
            result = hook(parm)
            if result.code != 0:
                return result
        return PermissionReturn()
