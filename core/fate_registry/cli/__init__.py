"""The ``fate-registry`` command: register, list, import and export servers and services, run
the server, list plugins and call capabilities.

Every error is one line on stderr, ``error: <what went wrong>``, and an exit code:

- 0 success;
- 1 the operation failed: the database is unavailable (unreachable, timed out, locked) or
  refused it, a conflict (a server that still has services), a schema that needs
  ``fate-registry db upgrade``, or one written by a newer fate-registry;
- 2 the input is wrong: a usage error, an invalid value, a bad import file, a bad setting;
- 3 the server, service or key asked for is not there.

Layout: ``app.py`` (the root, its global options, and the table of command modules),
``common.py`` (state, settings, errors), ``output.py``, and one module per command group.
"""

from .app import COMMANDS, app, main
from .common import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, CliError

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_INVALID", "EXIT_NOT_FOUND", "CliError", "app", "main"]
