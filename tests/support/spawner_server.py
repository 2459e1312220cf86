"""The demo server, over stdio, with a long-lived child process of its own (for the no-orphan tests).

``python spawner_server.py [NAME]`` first starts a child that sleeps for an hour,
then serves the demo server's tools (see ``demo_server.py``) plus ``child_pid``,
which returns the child's pid. The child inherits the server's stdout and stderr,
as ``node`` does under ``npx``: so the server's death alone does not close the
pipe the host reads, and nothing but its process group ties the child to it.
"""

from __future__ import annotations

import subprocess
import sys

from demo_server import make_server

CHILD_CODE = "import time; time.sleep(3600)"
"""What the child runs; tests find it by this text in its command line."""


def main() -> None:
    """Start the child, then serve over stdio until stdin closes."""
    name = sys.argv[1] if len(sys.argv) > 1 else "spawner"
    child = subprocess.Popen([sys.executable, "-c", CHILD_CODE], stdin=subprocess.DEVNULL)
    server = make_server(name)

    @server.tool()
    def child_pid() -> int:
        """The pid of this server's long-lived child."""
        return child.pid

    server.run()


if __name__ == "__main__":
    main()
