"""One hookspec per capability: the contract between fate-registry and its plugins.

Every hook takes ``context`` (a :class:`~fate_registry.context.HookContext`: registry, settings
of the capability, deadline, decision id) and ``request`` (the capability's request model).
An implementation may take a subset of the two, as pluggy allows.

Return ``None`` for "no opinion": the dispatcher then asks the next plugin of the chain. The
dispatcher, not pluggy, walks the chain (so each plugin gets its own deadline and failure
policy); the "stops at" notes below say how it combines the answers. A ``@nonblocking``
plugin that needs I/O for some requests returns ``Deferred(finish)`` for them: the dispatcher
calls ``finish()`` in a worker thread and takes its answer. A Decision's ``valid_until`` bounds
how long the decision cache keeps it.
"""

from __future__ import annotations

from .capabilities import (
    ClientAuthenticationRequest,
    Decision,
    DownloadAnswer,
    DownloadRequest,
    PermissionRequest,
    QueryAnswer,
    QueryRequest,
    Signature,
    SignatureRequest,
    SiteAuthenticationRequest,
    UploadAnswer,
    UploadRequest,
)
from .context import HookContext
from .markers import hookspec

# -- decisions ---------------------------------------------------------------------------------


@hookspec
def client_authentication(
    context: HookContext, request: ClientAuthenticationRequest
) -> Decision | None:
    """Authenticate a client's request to FATE Flow.

    :param context: the call's registry, settings and deadline.
    :param request: the client's path, headers, form and body.
    :return: ``Decision.allow()``, ``Decision.deny(message, code)`` or ``None`` (no opinion).

    Stops at first non-None result.
    """


@hookspec
def signature(context: HookContext, request: SignatureRequest) -> Signature | None:
    """Sign a body this site is about to send to another site.

    :param context: the call's registry, settings and deadline.
    :param request: this site's party id and the body to sign.
    :return: ``Signature.signed(text)``, a refusal (``allowed=False``) or ``None``.

    Stops at first non-None result.
    """


@hookspec
def site_authentication(
    context: HookContext, request: SiteAuthenticationRequest
) -> Decision | None:
    """Verify a request from another site against the signature it carries.

    :param context: the call's registry, settings and deadline.
    :param request: the source party id, its signature and the signed body.
    :return: a Decision or ``None``.

    Stops at first non-None result.
    """


@hookspec
def permission(context: HookContext, request: PermissionRequest) -> Decision | None:
    """Allow or deny a job that another site asks this site to run.

    :param context: the call's registry, settings and deadline.
    :param request: roles, parties, components and datasets of the job.
    :return: a Decision or ``None``.

    Every plugin with an opinion must allow; the chain stops at the first deny.
    """


# -- ApiReader ---------------------------------------------------------------------------------


@hookspec
def upload(context: HookContext, request: UploadRequest) -> UploadAnswer | None:
    """Send a job's ids to the feature service; answer the service's job id.

    :param context: the call's registry, settings, deadline and server (``server_name``, the
        server the caller asked for). Stop when ``context.cancelled`` is set.
    :param request: the ids (``request.ids``, read once: ``ids.chunks()`` gives FATE's id file
        as bytes, ``for id in ids`` the ids as strings), the job's parameters and FATE's job id.
    :return: an UploadAnswer, or ``None`` when this plugin does not serve uploads (then it
        must not have read the ids). Raise on a failed upload (a non-zero code is never
        ignored). Never retried.

    Stops at first non-None result.
    """


@hookspec
def query(context: HookContext, request: QueryRequest) -> QueryAnswer | None:
    """Ask the feature service for a job's status (success, running or failed).

    :param context: the call's registry, settings, deadline and server.
    :param request: the job id that ``upload`` answered.
    :return: a QueryAnswer (``retry_after``: seconds the service asks to wait before the
        next query, when it said) or ``None``.

    Stops at first non-None result.
    """


@hookspec
def download(context: HookContext, request: DownloadRequest) -> DownloadAnswer | None:
    """Download a finished job's features to ``request.destination``, atomically.

    :param context: the call's registry, settings, deadline and server. When
        ``context.cancelled`` is set, stop and remove the temporary file.
    :param request: the job id, the destination path, and ``progress(bytes, rows)`` to call
        as the file grows (when not None).
    :return: a DownloadAnswer (path, rows, bytes) or ``None``. Write a temporary file beside
        the destination and rename it: the destination never holds a partial file.

    Stops at first non-None result.
    """
