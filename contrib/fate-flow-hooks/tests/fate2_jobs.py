"""Jobs as fate_client 2.x's pipeline writes them (a DAG schema), and the body FATE Flow 2.x's
scheduler sends each party to create one (``/v2/partner/job/create``): guest 9999 reads its
table, host 10000 its own, then psi, coordinated_lr (guest, host and arbiter 10000) and
evaluation (guest). fate_client 2.0 and 2.2 write ``schema_version`` 2.0.0 and 2.2.0, and
evaluation's input is ``input_data`` in 2.0, ``input_datas`` from 2.1."""

import copy
from typing import Any, Dict, List

GUEST, HOST = "9999", "10000"
TABLES = {GUEST: ("experiment", "breast_hetero_guest"), HOST: ("experiment", "breast_hetero_host")}
JOB_ID = "202401010000000000001"


def _parties(*pairs: Any) -> List[Dict[str, Any]]:
    return [{"role": role, "party_id": [party]} for role, party in pairs]


def dag_schema(line: str = "2.2") -> Dict[str, Any]:
    evaluation_input = "input_data" if line == "2.0" else "input_datas"
    reader_tables = {
        f"{role}_{party}": {
            "parties": _parties((role, party)),
            "tasks": {
                "reader_0": {
                    "parameters": {"namespace": TABLES[party][0], "name": TABLES[party][1]}
                }
            },
        }
        for role, party in (("guest", GUEST), ("host", HOST))
    }
    output = {"producer_task": "psi_0", "output_artifact_key": "output_data"}
    return {
        "schema_version": "2.0.0" if line == "2.0" else "2.2.0",
        "kind": "fate",
        "dag": {
            "parties": _parties(("guest", GUEST), ("host", HOST), ("arbiter", HOST)),
            "conf": {"initiator_party_id": GUEST, "scheduler_party_id": GUEST},
            "stage": "train",
            "tasks": {
                "reader_0": {
                    "component_ref": "reader",
                    "parties": _parties(("guest", GUEST), ("host", HOST)),
                    "stage": "default",
                },
                "psi_0": {
                    "component_ref": "psi",
                    "parties": _parties(("guest", GUEST), ("host", HOST)),
                    "inputs": {
                        "data": {
                            "input_data": {
                                "task_output_artifact": {
                                    "producer_task": "reader_0",
                                    "output_artifact_key": "output_data",
                                }
                            }
                        }
                    },
                    "stage": "default",
                },
                "lr_0": {
                    "component_ref": "coordinated_lr",
                    "inputs": {"data": {"train_data": {"task_output_artifact": output}}},
                    "parameters": {"epochs": 10},
                },
                "evaluation_0": {
                    "component_ref": "evaluation",
                    "parties": _parties(("guest", GUEST)),
                    "inputs": {
                        "data": {
                            evaluation_input: {
                                "task_output_artifact": [
                                    {
                                        "producer_task": "lr_0",
                                        "output_artifact_key": "train_output_data",
                                    }
                                ]
                            }
                        }
                    },
                },
            },
            "party_tasks": reader_tables,
        },
    }


def create_body(line: str, role: str, party_id: str, dag: Any = None) -> Dict[str, Any]:
    """What FATE Flow 2.x's scheduler sends ``role``/``party_id`` to create the job there."""
    body = copy.deepcopy(dag if dag is not None else dag_schema(line))
    body.update({"job_id": JOB_ID, "role": role, "party_id": party_id})
    return body
