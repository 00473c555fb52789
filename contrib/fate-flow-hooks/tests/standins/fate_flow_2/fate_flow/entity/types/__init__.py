"""Stand-in for FATE Flow 2.x's ``DataSet`` (``fate_flow.entity.types``): a plain object whose
``to_dict()`` has its fields as text, which JSON cannot carry as it is."""


class DataSet:
    def __init__(self, namespace, name, **kwargs):
        self.namespace = namespace
        self.name = name

    def to_dict(self):
        return {k: str(v) for k, v in self.__dict__.items() if v is not None}
