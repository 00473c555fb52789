"""Stand-in for ``fate_flow.settings``: the values the hooks read, from service_conf.yaml at
import time, as FATE Flow's settings module does."""

import logging

from fate_arch.common.conf_utils import get_base_config

PARTY_ID = get_base_config("party_id", "")
HOOK_MODULE = get_base_config("hook_module")
HOOK_SERVER_NAME = get_base_config("hook_server_name")
stat_logger = logging.getLogger("fate_flow_stat")
