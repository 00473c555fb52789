"""Registration through fate_client 1.11.3's own request code, against ``sys.argv[1]``.

Run with fate_client 1.11.3 on ``PYTHONPATH``. ``flow service registry`` is its own click
command; the other calls go through ``access_server``, the function every ``flow`` command sends
with (HMAC-signed, since an app key and secret are configured). ``ctx.obj`` is what the ``flow``
group builds after ``flow init --ip --port --app-key --secret-key``. Prints each reply as JSON.
"""

import json
import sys
from urllib.parse import urlsplit

import click
from click.testing import CliRunner
from flow_client.flow_cli.commands import service
from flow_client.flow_cli.utils.cli_utils import access_server

base = sys.argv[1]
address = urlsplit(base)
obj = {
    "initialized": True,
    "api_version": "v1",
    "ip": address.hostname,
    "http_port": address.port,
    "server_url": f"{base}/v1",
    "app_key": "fate-client-app",
    "secret_key": "fate-client-secret",
}
ctx = click.Context(service.service, obj=obj)
server = {"host": address.hostname, "port": address.port}
upload = {"server_name": "third", "service_name": "upload", "uri": "/v1/upload"}

replies = {}
for label, postfix, body in [
    ("register", "server/third/register", server),
    ("register (alias)", "server/service/other/register", server),  # a 1.x alias route
    ("service registry", "service/registry", upload),
    ("service query", "service/query", {"service_name": "upload"}),
    ("get", "server/third/get", None),
    ("get (alias)", "server/service/third/get", None),  # a 1.x alias route
    ("get all", "server/get", None),
    # where fate-registry differs from FATE Flow on purpose
    ("get an unknown server", "server/nosuch/get", None),
    ("an unknown field", "service/registry", {**upload, "name": "typo"}),
    ("delete a server with services", "server/third/delete", None),
]:
    replies[label] = access_server("post", ctx, postfix, body, echo=False).json()

result = CliRunner().invoke(service.service, ["registry"], obj=obj)  # flow service registry
replies["flow service registry"] = json.loads(result.output) if result.exit_code == 0 else None
print(json.dumps(replies))
