"""Stand-in for FATE Flow 2.x's ``PartySpec``, a pydantic 1 model: ``dict()`` gives its fields,
iterating it gives ``(name, value)`` pairs, and JSON cannot carry it as it is."""


class PartySpec:
    __fields__ = ("role", "party_id")  # what tells a pydantic 1 model

    def __init__(self, role, party_id):
        self.role = role
        self.party_id = list(party_id)

    def dict(self):
        return {"role": self.role, "party_id": list(self.party_id)}

    def __iter__(self):
        return iter(self.dict().items())
