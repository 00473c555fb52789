"""The ``casbin`` plugin: permission as FATE Flow 1.11 decides it, with casbin.

Per source party, the component modules (lower-case, as FATE Flow sends them: ``reader``) and
datasets (``{namespace, name}``) it may use here; role ``local``, party id ``0`` and a party
asking itself are exempt. Requests are compared in fate-registry's canonical form
(``fate_registry.canonical``), the form policies are written in; a request that has none is
refused with code 101. Beyond FATE Flow: ``*`` for every component, dataset or party, roles
(casbin's ``g``: a party given a role has its policies), and a refusal that names everything
it refused. Policies: :mod:`fate_registry_casbin.policies`, in the registry's database.

It decides only when ``casbin`` is named in ``hooks.permission.chain`` (FATE Flow's
``permission.switch``); with the default chain it has no opinion, so installing it changes no
decision. It decides from policies held in memory (``Policies.refused``), but is not
``@nonblocking``: casbin evaluates its matcher once per policy, so a first check among
thousands of policies takes milliseconds, which the server's event loop should not wait for.
"""

from __future__ import annotations

import os

from fate_registry import hookimpl
from fate_registry.canonical import asked
from fate_registry.capabilities import (
    ARGUMENT_ERROR,
    PERMISSION_ERROR,
    Decision,
    PermissionRequest,
)
from fate_registry.context import HookContext
from fate_registry.errors import InvalidRegistration
from fate_registry.logsafe import printable

from .policies import COMPONENT, DATASET, Policies, Policy, dataset_label, fate_dataset, policies_of

PLUGIN = "casbin"  # the entry point's name: the name to put in hooks.permission.chain
COMPONENTS_ENV = "FATE_CASBIN_COMPONENTS"
DATASETS_ENV = "FATE_CASBIN_DATASETS"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def switch(variable: str) -> bool:
    """A check's switch (FATE Flow's ``permission.component`` and ``.dataset``): on unless the
    variable says otherwise."""
    raw = os.environ.get(variable, "").strip().lower()
    if raw in ("", *_TRUE):
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{variable} must be true or false (1/0, yes/no, on/off), not {raw!r}")


def decide(
    request: PermissionRequest, policies: Policies, *, components: bool, datasets: bool
) -> Decision:
    """The decision for ``request`` under ``policies``."""
    try:
        job = asked(request, components=components, datasets=datasets)
    except InvalidRegistration as exc:
        return Decision.deny(printable(f"invalid permission request: {exc}"), code=ARGUMENT_ERROR)
    if job.role == "local" or job.party_id == "0":
        return Decision.allow("exempt: a local job")
    party = job.src_party_id
    if job.party_id is not None and party == job.party_id:
        return Decision.allow("exempt: a party asking itself")
    wanted = [(COMPONENT, c) for c in job.components]
    wanted += [(DATASET, fate_dataset(namespace, name)) for namespace, name in job.datasets]
    refused = policies.refused(party, dict.fromkeys(wanted))
    problems = []
    for kind in (COMPONENT, DATASET):
        names = [dataset_label(v) if kind == DATASET else v for k, v in refused if k == kind]
        if names:
            problems.append(f"{kind}(s) not granted to party {party}: {', '.join(names)}")
    if problems:
        return Decision.deny(printable("; ".join(problems)), code=PERMISSION_ERROR)
    return Decision.allow(f"granted to party {party} by casbin policies")


@hookimpl
def permission(context: HookContext, request: PermissionRequest) -> Decision | None:
    if context.registry is None or PLUGIN not in (context.settings.chain or ()):
        return None  # not switched on: no opinion
    return decide(
        request,
        policies_of(context.registry),
        components=switch(COMPONENTS_ENV),
        datasets=switch(DATASETS_ENV),
    )


__all__ = ["Policies", "Policy", "decide", "permission", "policies_of"]
