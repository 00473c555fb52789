"""Stand-in for ``fate_flow.utils.log.getLogger``: with no name, the ``stat`` logger (FATE Flow
2.x writes it to logs/fate_flow/fate_flow_stat.log)."""

import logging


def getLogger(className=None, useLevelFile=False):
    return logging.getLogger("fate_flow_stat" if className is None else className)
