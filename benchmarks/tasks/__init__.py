"""A task benchmark over the real filesystem and SQLite MCP servers (``make bench-tasks``).

Run ``python -m benchmarks.tasks --help``. See README.md in this folder.
"""
