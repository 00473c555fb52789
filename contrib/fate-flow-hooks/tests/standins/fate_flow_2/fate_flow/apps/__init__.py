"""Stand-in for the part of FATE Flow 2.x's ``fate_flow.apps`` that runs the hooks on a request
it serves: client authentication before the ``client`` apps and site authentication before the
``partner`` and ``scheduler`` apps, each while its switch is on, with the Flask request's
``path, method, headers, form, data, json, full_path``; a non-zero code is answered as
``{code, message}``. Then ``/v2/partner/job/create`` checks the job's permission."""

from flask import request

from fate_flow.hook import HookManager
from fate_flow.hook.common.parameters import AuthenticationParameters
from fate_flow.runtime.system_settings import CLIENT_AUTHENTICATION, SITE_AUTHENTICATION
from fate_flow.utils.permission_utils import create_job_request_check

SITE_APPS = ("partner", "scheduler")


def _parameters():
    return AuthenticationParameters(
        request.path,
        request.method,
        request.headers,
        request.form,
        request.data,
        request.json,
        request.full_path,
    )


def client_authentication_before_request():
    if CLIENT_AUTHENTICATION:
        result = HookManager.client_authentication(_parameters())
        if result.code != 0:
            return {"code": result.code, "message": result.message}
    return None


def site_authentication_before_request():
    if SITE_AUTHENTICATION:
        result = HookManager.site_authentication(_parameters())
        if result.code != 0:
            return {"code": result.code, "message": result.message}
    return None


def handle():
    """FATE Flow's reply to the request being handled, as far as the hooks decide it."""
    page = request.path.split("/")[2] if request.path.count("/") >= 2 else ""
    if page in SITE_APPS:
        refusal = site_authentication_before_request()
    elif page == "worker":
        refusal = None
    else:
        refusal = client_authentication_before_request()
    if refusal is None and request.path == "/v2/partner/job/create":
        refusal = create_job_request_check()
    return refusal or {"code": 0, "message": "success"}
