"""Stand-in for the part of flask's request context that FATE Flow 1.11 hands its hooks, with
werkzeug's behaviour: headers live in a WSGI environ (``src_role`` is ``HTTP_SRC_ROLE``, so a
lookup ignores case and ``-``/``_``, and iteration names them ``Src-Role``), the form is a
multidict whose ``items()`` give each key's first value, ``data`` is the raw body as bytes (empty
once a form was parsed) and ``json`` is FATE Flow's ``get_json(force=True, silent=True)``.
None of these is JSON-serialisable except ``json``, as in FATE Flow."""

import contextlib
import json as _json
import threading
from urllib.parse import parse_qsl

_local = threading.local()


class EnvironHeaders:
    """werkzeug's read-only view of the headers in a WSGI environ."""

    def __init__(self, environ):
        self.environ = environ

    @staticmethod
    def _key(name):
        key = name.upper().replace("-", "_")
        return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key

    def get(self, name, default=None):
        return self.environ.get(self._key(name), default)

    def __getitem__(self, name):
        return self.environ[self._key(name)]

    def __contains__(self, name):
        return self._key(name) in self.environ

    def items(self):
        for key, value in self.environ.items():
            if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                yield key[5:].replace("_", "-").title(), value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                yield key.replace("_", "-").title(), value

    def __iter__(self):
        return self.items()


class MultiDict:
    """werkzeug's MultiDict, as far as the hooks use it: ``items()`` gives first values."""

    def __init__(self, pairs=()):
        self._lists = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)

    def items(self):
        for key, values in self._lists.items():
            yield key, values[0]

    def __bool__(self):
        return bool(self._lists)


class Request:
    def __init__(self, method, path, query, headers, body):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
        for name, value in headers:
            environ[EnvironHeaders._key(name)] = value
        self.method = method
        self.path = path
        self.full_path = path + "?" + query  # werkzeug keeps the '?' when the query is empty
        self.headers = EnvironHeaders(environ)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == "application/x-www-form-urlencoded":
            self.form = MultiDict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
            self.data = b""
        else:
            self.form = MultiDict()
            self.data = body
        try:
            self.json = _json.loads(self.data) if self.data else None
        except ValueError:
            self.json = None


class _RequestProxy:
    def __getattr__(self, name):
        current = getattr(_local, "request", None)
        if current is None:
            raise RuntimeError("Working outside of request context.")
        return getattr(current, name)


request = _RequestProxy()


def has_request_context():
    return getattr(_local, "request", None) is not None


@contextlib.contextmanager
def request_context(method="POST", path="/", query="", headers=(), body=b""):
    """Handle one request: ``flask.request`` is it until the block ends."""
    previous = getattr(_local, "request", None)
    _local.request = Request(method, path, query, list(headers), body)
    try:
        yield _local.request
    finally:
        _local.request = previous
