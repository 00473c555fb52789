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

replies = {}
for method, uri, arguments in [
    ("post", "/server/registry", {"json": server}),
    ("post", "/server/service/registry", {"json": upload}),
    ("get", "/server/query", {"params": {"server_name": "THIRD"}}),
    ("get", "/server/query/all", {}),
    ("get", "/server/service/query", {"params": key}),
    ("post", "/server/service/delete", {"json": key}),
    ("post", "/server/delete", {"json": {"server_name": "THIRD"}}),
]:
    replies[f"{method} {uri}"] = client._handle_result(getattr(client, method)(uri, **arguments))
print(json.dumps(replies))
