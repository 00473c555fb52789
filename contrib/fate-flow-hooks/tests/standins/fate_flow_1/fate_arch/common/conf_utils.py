"""Stand-in for ``fate_arch.common.conf_utils.get_base_config``: a key of
``$FATE_PROJECT_BASE/conf/service_conf.yaml``, where ``local.service_conf.yaml`` beside it wins,
read on every call as FATE's is."""

import os

import yaml


def _load(path):
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return yaml.safe_load(file)


def get_base_config(key, default=None, conf_name="service_conf.yaml"):
    conf = os.path.join(os.environ["FATE_PROJECT_BASE"], "conf")
    local = _load(os.path.join(conf, "local." + conf_name))
    if isinstance(local, dict) and key in local:
        return local[key]
    config = _load(os.path.join(conf, conf_name))
    return config.get(key, default) if isinstance(config, dict) else default
