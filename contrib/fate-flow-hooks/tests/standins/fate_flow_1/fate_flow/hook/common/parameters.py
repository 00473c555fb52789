"""Stand-in for ``fate_flow.hook.common.parameters``: plain objects whose ``to_dict()`` is
their attributes, as FATE Flow 1.11's are (note ``runtime_conf`` stored as ``run_time_conf``)."""


class _Parameters:
    def to_dict(self):
        return dict(self.__dict__)


class ClientAuthenticationParameters(_Parameters):
    def __init__(self, full_path, headers, form, data, json):
        self.full_path = full_path
        self.headers = headers
        self.form = form
        self.data = data
        self.json = json


class SignatureParameters(_Parameters):
    def __init__(self, party_id, body):
        self.party_id = party_id
        self.body = body


class AuthenticationParameters(_Parameters):
    def __init__(self, src_party_id, site_signature, body):
        self.src_party_id = src_party_id
        self.site_signature = site_signature
        self.body = body


class PermissionCheckParameters(_Parameters):
    def __init__(
        self,
        src_role,
        src_party_id,
        role,
        party_id,
        initiator,
        roles,
        component_list,
        dataset_list,
        runtime_conf,
        dsl,
        component_parameters,
    ):
        self.src_role = src_role
        self.src_party_id = src_party_id
        self.role = role
        self.party_id = party_id
        self.initiator = initiator
        self.roles = roles
        self.component_list = component_list
        self.dataset_list = dataset_list
        self.run_time_conf = runtime_conf
        self.dsl = dsl
        self.component_parameters = component_parameters


class _Return(_Parameters):
    def __init__(self, code=0, message="success"):
        self.code = code
        self.message = message


class ClientAuthenticationReturn(_Return):
    pass


class AuthenticationReturn(_Return):
    pass


class PermissionReturn(_Return):
    pass


class SignatureReturn(_Parameters):
    def __init__(self, code=0, site_signature=None):
        self.code = code
        self.site_signature = site_signature
