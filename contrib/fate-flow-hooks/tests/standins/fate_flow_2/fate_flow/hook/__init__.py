"""Stand-in for FATE Flow 2.x's ``HookManager``: ``init()`` imports every module named in
``hook_module`` (values split on ``;``) only when a switch of ``authentication`` is on, logging
and skipping one that fails to import; a signature hook registers only while site
authentication is on; the first registered hook of each kind answers (permission too); with
none, FATE Flow allows and adds no header."""

import importlib
from typing import ClassVar, List

from fate_flow.hook.common.parameters import (
    AuthenticationReturn,
    PermissionReturn,
    SignatureReturn,
)
from fate_flow.runtime.system_settings import (
    CLIENT_AUTHENTICATION,
    HOOK_MODULE,
    PERMISSION_SWITCH,
    SITE_AUTHENTICATION,
)
from fate_flow.utils.log import getLogger

stat_logger = getLogger()


class HookManager:
    SITE_SIGNATURE: ClassVar[List] = []
    SITE_AUTHENTICATION: ClassVar[List] = []
    CLIENT_AUTHENTICATION: ClassVar[List] = []
    PERMISSION_CHECK: ClassVar[List] = []

    @staticmethod
    def init():
        if HOOK_MODULE is None:
            return
        if not (CLIENT_AUTHENTICATION or SITE_AUTHENTICATION or PERMISSION_SWITCH):
            return
        for names in HOOK_MODULE.values():
            for name in names.split(";"):
                try:
                    importlib.import_module(name)
                except Exception:
                    stat_logger.exception("hook module %s failed to import", name)

    @staticmethod
    def register_site_signature_hook(func):
        if SITE_AUTHENTICATION:
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
        return hooks[0](parm) if hooks else AuthenticationReturn()

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
        hooks = HookManager.PERMISSION_CHECK
        return hooks[0](parm) if hooks else PermissionReturn()
