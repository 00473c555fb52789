"""Stand-in for FATE Flow 2.x's ``fate_flow.hook.common.parameters``: plain objects whose
``to_dict()`` is their attributes. What a hook package relies on, written as data: each class's
constructor arguments in order (with their defaults), each kept as an attribute of its name,
but for the permission's ``initiator_party_id``, kept as ``party_id``. One class serves client
and site authentication; a signature's return carries a dict of headers."""

import inspect
from typing import ClassVar, Dict

from fate_flow.entity.code import ReturnCode

SUCCESS = ReturnCode.Base.SUCCESS


def _signature(*names, **defaults):
    """A constructor's signature: ``names`` without a default, then ``defaults`` in order."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, kind) for name in names]
    parameters += [inspect.Parameter(name, kind, default=value) for name, value in defaults.items()]
    return inspect.Signature(parameters)


class _Parameters:
    SIGNATURE = _signature()
    KEPT_AS: ClassVar[Dict[str, str]] = {}  # an argument kept under another attribute name

    def __init__(self, *args, **kwargs):
        bound = self.SIGNATURE.bind(*args, **kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            setattr(self, self.KEPT_AS.get(name, name), value)

    def to_dict(self):
        return dict(self.__dict__)


class AuthenticationParameters(_Parameters):
    SIGNATURE = _signature("path", "method", "headers", "form", "data", "json", "full_path")


class AuthenticationReturn(_Parameters):
    SIGNATURE = _signature(code=SUCCESS, message="success")


class SignatureParameters(_Parameters):
    SIGNATURE = _signature("party_id", "body", initiator_party_id="")


class SignatureReturn(_Parameters):
    SIGNATURE = _signature(code=SUCCESS, signature=None, message="")


class PermissionCheckParameters(_Parameters):
    SIGNATURE = _signature(
        "initiator_party_id",
        "roles",
        "component_list",
        "dataset_list",
        "dag_schema",
        "component_parameters",
    )
    KEPT_AS: ClassVar[Dict[str, str]] = {"initiator_party_id": "party_id"}


class PermissionReturn(_Parameters):
    SIGNATURE = _signature(code=SUCCESS, message="success")
