"""Stand-in for FATE Flow 2.x's ``fate_flow.utils.conf_utils.get_base_config``: a key of
``service_conf.yaml``, where a key of ``local.service_conf.yaml`` beside it wins, read on every
call. The directory: ``fate_flow.settings.DEFAULT_SERVER_CONF_PATH`` as this module was imported
(2.1 on), else ``<fate_flow>/conf`` (2.0), for which ``$FATE_PROJECT_BASE`` stands in here."""

import os

import yaml

from ..settings import DEFAULT_SERVER_CONF_PATH


def _conf_dir():
    return DEFAULT_SERVER_CONF_PATH or os.path.join(os.environ["FATE_PROJECT_BASE"], "conf")


def _load(path):
    with open(path) as file:
        config = yaml.safe_load(file)
    if not isinstance(config, dict):
        raise ValueError(f'Invalid config file: "{path}".')
    return config


def get_base_config(key, default=None, conf_name="service_conf.yaml"):
    local_path = os.path.join(_conf_dir(), "local." + conf_name)
    local = _load(local_path) if os.path.exists(local_path) else {}
    if key in local:
        return local[key]
    config = _load(os.path.join(_conf_dir(), conf_name))
    config.update(local)
    return config.get(key, default)
