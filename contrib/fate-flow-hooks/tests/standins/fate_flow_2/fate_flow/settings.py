"""Stand-in for FATE Flow 2.x's ``fate_flow.settings``: paths an operator may set in the file.
``DEFAULT_SERVER_CONF_PATH`` (2.1 on) names the directory of ``service_conf.yaml``; empty, 2.0's
``<fate_flow>/conf`` is used. The tests set it as an operator would, before FATE Flow starts."""

DEFAULT_SERVER_CONF_PATH = ""
