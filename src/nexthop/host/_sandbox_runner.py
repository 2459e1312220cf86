"""The program that runs inside the sandbox: one call of one synthesized function.

Its source is handed to the sandboxed interpreter with ``-c`` (nothing of nexthop is
mounted), so it imports only the standard library. It reads one JSON request from
stdin, applies the limits to itself (hard limits equal soft ones, so the tool cannot
raise them), drops to an unprivileged uid when started as root, runs the function and
writes one JSON reply to the pipe that was its stdout; the tool's own prints go to
stderr, so they cannot corrupt the reply.

Request: ``{"source", "function", "arguments", "paths", "uid", "limits": {"cpu_s",
"memory_bytes", "processes", "open_files", "file_bytes"}}``. Reply: ``{"ok": true,
"value": ...}`` or ``{"ok": false, "error": "Type: message", "traceback": [...]}``.
"""

from __future__ import annotations

import json
import linecache
import os
import resource
import sys
import traceback
from typing import Any

__all__ = ["main"]

TOOL_FILE = "<tool>"
"""The file name the tool's frames carry in a traceback (the host keeps only those lines)."""


def _limit(which: int, value: int, hard: int | None = None) -> None:
    resource.setrlimit(which, (value, value if hard is None else hard))


def _confine(request: dict[str, Any]) -> None:
    limits: dict[str, int] = request["limits"]
    _limit(resource.RLIMIT_CORE, 0)
    # SIGXCPU at the limit ends the process; SIGKILL a second later if the tool catches it.
    _limit(resource.RLIMIT_CPU, limits["cpu_s"], limits["cpu_s"] + 1)
    _limit(resource.RLIMIT_AS, limits["memory_bytes"])
    _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    _limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    _limit(resource.RLIMIT_NPROC, limits["processes"])
    uid = request.get("uid")
    if os.getuid() == 0 and isinstance(uid, int):
        # The kernel never applies RLIMIT_NPROC to uid 0 of the first user namespace, and
        # root may ptrace or signal anything it can see: run the tool as a uid of its own.
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


def _tool_lines(error: BaseException) -> list[str]:
    """The traceback's lines that point into the tool's own source, and the error itself."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == TOOL_FILE]
    lines = [f"line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames]
    return [*lines, *traceback.format_exception_only(type(error), error)]


def _run(request: dict[str, Any]) -> dict[str, Any]:
    sys.path[:0] = request.get("paths", [])
    namespace: dict[str, Any] = {"__name__": "synthesized"}
    source: str = request["source"]
    linecache.cache[TOOL_FILE] = (len(source), None, source.splitlines(True), TOOL_FILE)  # source lines in tracebacks
    try:
        exec(compile(source, TOOL_FILE, "exec"), namespace)  # noqa: S102 - this is the sandbox
        value = namespace[request["function"]](**request["arguments"])
        return {"ok": True, "value": json.loads(json.dumps(value, default=str))}
    except BaseException as e:  # noqa: BLE001 - every failure is the tool's, reported to the model
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:2000], "traceback": _tool_lines(e)[-12:]}


def main() -> None:
    """Read the request, confine this process, run the function, write the reply."""
    request = json.loads(sys.stdin.read())
    _confine(request)
    reply = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the tool's prints go to stderr
    sys.stdout = sys.stderr
    me = os.getpid()
    result = _run(request)
    if os.getpid() != me:  # a child the tool forked: only the tool's own process replies
        os._exit(1)
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as e:
        text = json.dumps({"ok": False, "error": f"the result is not JSON: {e}", "traceback": []})
    reply.write(text)
    reply.flush()
    os._exit(0)  # skip interpreter teardown: nothing the tool left behind runs after the reply


if __name__ == "__main__":
    main()
