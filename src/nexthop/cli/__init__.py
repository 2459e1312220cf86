"""The ``nexthop`` command: ``run`` a task, list ``tools``, ``serve`` over MCP.

The only place that reads flags, environment variables and the default config file;
everything below it takes explicit config objects.
"""

from nexthop.cli._app import EXIT_CODES, main

__all__ = ["EXIT_CODES", "main"]
