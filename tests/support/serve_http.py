"""A real ``nexthop serve --http`` process on loopback with a scripted model, for the HTTP tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

NEXTHOP = Path(sys.executable).parent / "nexthop"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This environment without nexthop's own variables, so the flags alone decide."""
    return {k: v for k, v in os.environ.items() if k not in ("NEXTHOP_TOKEN", "NEXTHOP_CONFIG", "NEXTHOP_MODEL")}


def serve_subprocess(script: Path, *extra: str, bind: str = "127.0.0.1") -> Iterator[int]:
    """Run ``nexthop serve --http BIND:PORT --model scripted:SCRIPT *extra``; yield the port once it listens."""
    port = free_port()
    log = script.parent / f"serve-{port}.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [str(NEXTHOP), "serve", "--http", f"{bind}:{port}", "--model", f"scripted:{script}", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=clean_env(),
        )
    try:
        deadline = time.monotonic() + 30  # the interpreter and uvicorn come up in a few seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"nexthop serve exited with {proc.returncode}: {log.read_text()[-500:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"nexthop serve did not listen on {port}: {log.read_text()[-500:]}")
                time.sleep(0.05)  # polling a port that is not open yet: there is no event to wait on
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
