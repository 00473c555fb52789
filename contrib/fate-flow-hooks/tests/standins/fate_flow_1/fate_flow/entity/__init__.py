"""Stand-in for ``fate_flow.entity``: ``DataSet``, which JSON cannot carry."""


class DataSet:
    def __init__(self, namespace, name):
        self.namespace = namespace
        self.name = name

    def to_dict(self):
        return {"namespace": self.namespace, "name": self.name}
