"""Escape attempts, each a synthesized tool: every one is blocked and reported as an error
observation, leaves no process behind, and the host works after it.

Needs bubblewrap (``make test`` installs it).
"""

# The tests read the host's files to prove nothing changed there: blocking is what they want.
# ruff: noqa: ASYNC240

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from procs import no_new_children

from nexthop._trajectory import Observation, ToolCall
from nexthop.host._sandbox import SandboxConfig, SandboxLimits
from nexthop.host._synthesis import SynthesisToolset

pytestmark = pytest.mark.anyio

LIMITS = SandboxLimits(wall_s=3.0, cpu_s=2, memory_mb=256, processes=16)


async def attempt(
    source: str, arguments: dict[str, Any] | None = None, limits: SandboxLimits = LIMITS, *, alone: bool = True
) -> Observation:
    """Create the tool ``escape`` from ``source`` and call it once; then check the host still works.

    ``alone``: no other call runs meanwhile, so any new process after it is its leftover.
    """
    tools = SynthesisToolset(SandboxConfig(limits=limits))
    with no_new_children() if alone else contextlib.nullcontext():
        created = await tools.call_tool(
            ToolCall(
                id="c",
                name="create_tool",
                arguments={
                    "name": "escape",
                    "description": "tries to get out",
                    "input_schema": {"type": "object"},
                    "source": textwrap.dedent(source),
                },
            )
        )
        assert not created.is_error, created.content
        observation = await tools.call_tool(ToolCall(id="e", name="synth__escape", arguments=arguments or {}))
    await host_still_works(tools)
    return observation


async def host_still_works(tools: SynthesisToolset) -> None:
    create = {"name": "ok", "description": "adds", "input_schema": {"type": "object"}}
    source = "def ok(a, b):\n    return a + b\n"
    await tools.call_tool(ToolCall(id="k", name="create_tool", arguments={**create, "source": source}))
    obs = await tools.call_tool(ToolCall(id="k2", name="synth__ok", arguments={"a": 2, "b": 3}))
    assert (obs.is_error, obs.content) == (False, "5")


async def test_a_network_socket_cannot_reach_the_host() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        obs = await attempt(
            """
            import socket
            def escape(port):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                socket.create_connection(("1.1.1.1", 53), timeout=2).close()
                return "connected"
            """,
            {"port": port},
        )
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    assert obs.is_error
    assert "ConnectionRefusedError" in obs.content or "unreachable" in obs.content


@pytest.mark.parametrize("secret", ["/etc/shadow", "~/.ssh/id_rsa", "{tmp}/id_rsa"])
async def test_host_secrets_cannot_be_read(secret: str, tmp_path: Path) -> None:
    (tmp_path / "id_rsa").write_text("PRIVATE KEY")
    path = os.path.expanduser(secret.format(tmp=tmp_path))
    obs = await attempt("def escape(path):\n    return open(path).read()\n", {"path": path})
    assert obs.is_error
    assert "FileNotFoundError" in obs.content or "PermissionError" in obs.content
    assert "PRIVATE" not in obs.content


@pytest.mark.parametrize("where", ["{tmp}/pwned", "/pwned-{tag}", "/tmp/pwned-{tag}"])
async def test_nothing_is_written_outside_the_scratch_folder(where: str, tmp_path: Path) -> None:
    path = where.format(tmp=tmp_path, tag=uuid.uuid4().hex)
    obs = await attempt("def escape(path):\n    open(path, 'w').write('x')\n    return 'written'\n", {"path": path})
    assert obs.is_error
    assert not os.path.exists(path)


async def test_a_fork_bomb_is_stopped_by_the_process_limit() -> None:
    start = time.monotonic()
    obs = await attempt(
        """
        import os
        def escape():
            while True:
                os.fork()
        """
    )
    assert obs.is_error
    assert time.monotonic() - start < LIMITS.wall_s + 1 + 3  # the limit stops it, not only the clock


async def test_memory_past_the_limit_is_refused() -> None:
    obs = await attempt("def escape():\n    return len(bytearray(1024 ** 3))\n")
    assert obs.is_error
    assert "MemoryError" in obs.content


async def test_a_call_past_the_wall_time_is_killed_within_a_second_of_the_limit() -> None:
    limits = LIMITS.model_copy(update={"wall_s": 1.5, "cpu_s": 30})
    obs = await attempt("import time\ndef escape():\n    time.sleep(60)\n", limits=limits)
    assert obs.is_error
    assert "wall-time limit" in obs.content
    assert limits.wall_s <= obs.duration_s < limits.wall_s + 1  # the call itself, kill and reaping included


async def test_cpu_past_the_limit_is_killed() -> None:
    limits = LIMITS.model_copy(update={"wall_s": 10.0, "cpu_s": 1})
    obs = await attempt("def escape():\n    while True:\n        pass\n", limits=limits)
    assert obs.is_error
    assert "killed" in obs.content


@pytest.fixture
def victim() -> Any:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield psutil.Process(proc.pid)
    proc.kill()
    proc.wait()


async def test_a_process_outside_cannot_be_signalled(victim: psutil.Process) -> None:
    obs = await attempt("import os, signal\ndef escape(pid):\n    os.kill(pid, signal.SIGKILL)\n", {"pid": victim.pid})
    assert obs.is_error
    assert "ProcessLookupError" in obs.content
    assert victim.is_running() and victim.status() != psutil.STATUS_ZOMBIE


async def test_a_process_outside_cannot_be_traced(victim: psutil.Process) -> None:
    obs = await attempt(
        """
        import ctypes, os
        def escape(pid):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            return "attached"
        """,
        {"pid": victim.pid},
    )
    assert obs.is_error
    assert "No such process" in obs.content
    assert "TracerPid:\t0" in Path(f"/proc/{victim.pid}/status").read_text()


async def test_ctypes_system_is_contained() -> None:
    marker = f"/tmp/nexthop-escape-{uuid.uuid4().hex}"
    obs = await attempt(
        """
        import ctypes
        def escape(marker):
            status = ctypes.CDLL("libc.so.6").system(f"touch {marker}".encode())
            if status != 0:
                raise OSError(f"system() returned {status}")
            return status
        """,
        {"marker": marker},
    )
    # It may run; it cannot reach the host: no shell is mounted, and no host /tmp.
    assert obs.is_error
    assert not os.path.exists(marker)


async def test_concurrent_escapes_leave_the_host_responsive() -> None:
    results: list[Observation] = []

    async def one() -> None:
        results.append(await attempt("import time\ndef escape():\n    time.sleep(60)\n", alone=False))

    with anyio.fail_after(LIMITS.wall_s + 10), no_new_children():
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
    assert [o.is_error for o in results] == [True, True, True]
