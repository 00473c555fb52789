"""Stand-in for FATE Flow 2.x's ``fate_flow.utils.permission_utils``: the permission check of
``POST /v2/partner/job/create``. Its parameters are what FATE Flow's job parser gives for the
receiving role and party (both in the request's body): the DAG's parties as ``PartySpec``
objects, a **set** of the component_refs of the tasks that run there (FATE Flow's own upload and
download left out), the tables of the reader tasks there as ``DataSet`` objects, the DAG schema,
and each component's parameters there; the initiator from the ``initiator_party_id`` header."""

from flask import request

from fate_flow.entity.spec.dag import PartySpec
from fate_flow.entity.types import DataSet
from fate_flow.hook import HookManager
from fate_flow.hook.common.parameters import PermissionCheckParameters
from fate_flow.runtime.system_settings import PERMISSION_SWITCH

FLOW_COMPONENTS = {"upload", "download"}


def _names(parties, role, party_id):
    return any(
        party["role"] == role and str(party_id) in [str(p) for p in party["party_id"]]
        for party in parties or []
    )


def _tasks_at(dag, role, party_id):
    """(component_ref, parameters) of each task that runs at ``role``/``party_id``, its
    parameters with those ``party_tasks`` give that party."""
    for name, task in dag["tasks"].items():
        if not _names(task.get("parties") or dag["parties"], role, party_id):
            continue
        parameters = dict(task.get("parameters") or {})
        for party_task in (dag.get("party_tasks") or {}).values():
            if _names(party_task.get("parties"), role, party_id):
                own = (party_task.get("tasks") or {}).get(name) or {}
                parameters.update(own.get("parameters") or {})
        yield task["component_ref"], parameters


def get_permission_parameters(role, party_id, initiator_party_id, job_info):
    dag = job_info["dag"]
    tasks = list(_tasks_at(dag, role, party_id))
    return PermissionCheckParameters(
        initiator_party_id=initiator_party_id,
        roles=[PartySpec(party["role"], party["party_id"]) for party in dag["parties"]],
        component_list={ref for ref, _ in tasks} - FLOW_COMPONENTS,
        dataset_list=[
            DataSet(namespace=parameters.get("namespace"), name=parameters.get("name"))
            for ref, parameters in tasks
            if ref.lower() == "reader"
        ],
        dag_schema={
            key: job_info[key] for key in ("dag", "schema_version", "kind") if key in job_info
        },
        component_parameters={ref: parameters for ref, parameters in tasks},
    )


def create_job_request_check():
    """What ``partner_create_job`` does first: None to go on creating the job here, or the
    refusal FATE Flow answers, ``{code, message}``."""
    if not PERMISSION_SWITCH:
        return None
    body = request.json
    result = HookManager.permission_check(
        get_permission_parameters(
            body["role"], body["party_id"], request.headers.get("initiator_party_id"), body
        )
    )
    if result.code != 0:
        return {"code": result.code, "message": result.message}
    return None
