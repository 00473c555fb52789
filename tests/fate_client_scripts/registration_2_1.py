"""Registration through fate_client 2.1.0's own request code, against ``sys.argv[1]``.

Run with fate_client 2.1.0 on ``PYTHONPATH``. fate_client 2.1.0 has no command for FATE Flow's
server and service registration routes, so this sends them with ``FlowClient``'s own ``post`` and
``get`` (its session, request preparation and reply handling), as a 2.x script would. Prints
each reply as JSON.
"""

import json
import sys
from urllib.parse import urlsplit

from fate_client.flow_sdk import FlowClient

address = urlsplit(sys.argv[1])
client = FlowClient(ip=address.hostname, port=address.port, version="v2")
server = {"server_name": "THIRD", "host": address.hostname, "port": address.port}
upload = {"server_name": "THIRD", "service_name": "upload", "uri": "/v1/upload"}
key = {"server_name": "THIRD", "service_name": "upload"}
unknown = {"server_name": "THIRD", "service_name": "nosuch"}
third = {"server_name": "THIRD"}

replies = {}
for label, method, uri, arguments in [
    ("register", "post", "/server/registry", {"json": server}),
    ("service registry", "post", "/server/service/registry", {"json": upload}),
    ("query", "get", "/server/query", {"params": {"server_name": "THIRD"}}),
    ("query all", "get", "/server/query/all", {}),
    ("service query", "get", "/server/service/query", {"params": key}),
    # refusals (the second where fate-registry differs from FATE Flow on purpose)
    ("query an unknown service", "get", "/server/service/query", {"params": unknown}),
    ("delete a server with services", "post", "/server/delete", {"json": third}),
    # and clean up
    ("service delete", "post", "/server/service/delete", {"json": key}),
    ("delete", "post", "/server/delete", {"json": third}),
]:
    replies[label] = client._handle_result(getattr(client, method)(uri, **arguments))
print(json.dumps(replies))
