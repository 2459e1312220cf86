"""A Python write tool for policy tests: ``Notes().write_file`` records what it was asked to write."""

from __future__ import annotations


class Notes:
    """A Python write tool: what it was asked to write, in order, in ``written``."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write_file(self, path: str, content: str) -> str:
        """Write a text file.

        Args:
            path: Where.
            content: The text.
        """
        self.written.append(content)
        return f"Successfully wrote to {path}"
