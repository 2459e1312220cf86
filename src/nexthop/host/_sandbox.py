"""Runs one call of a model-written function in a fresh bubblewrap sandbox.

Each call is a new process tree under ``bwrap``: private mount, PID, network, IPC
and UTS namespaces (no network at all: only a loopback of its own), ``--die-with-parent``
and ``--new-session``; a filesystem that holds only the Python runtime (read-only, see
`runtime_mounts`), an empty writable scratch folder (``/scratch``, deleted after the
call), the allowlisted packages and the configured roots. Inside, the runner sets hard
limits on CPU time, address space, processes, open files and file size, and (when
nexthop runs as root) drops to a uid of its own. The host enforces wall time and output
size: past either it kills bwrap, whose death takes the PID namespace, and so every
process the tool started, with it.

Arguments go in and the result comes out as JSON over pipes. If bubblewrap is missing
the sandbox refuses to start (`SandboxUnavailable`); nothing ever runs unsandboxed.

After the sandbox of the issue (Docker with no network in Autono's tool synthesis),
with bubblewrap's own flags (bubblewrap(1)).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nexthop.host._sandbox_mounts import (
    SandboxUnavailable,
    bwrap_path,
    package_mounts,
    parents,
    runtime_mounts,
)

__all__ = ["SandboxConfig", "SandboxLimits", "SandboxMount", "SandboxOutcome", "SandboxUnavailable", "run_sandboxed"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_SCRATCH = "/scratch"
_MiB = 1024 * 1024


class SandboxLimits(BaseModel):
    """What one call may use.

    Attributes:
        cpu_s: CPU time (seconds, RLIMIT_CPU); past it the kernel kills the process.
        wall_s: Wall time (seconds), enforced by the host: the whole tree is killed.
        memory_mb: Address space (MiB, RLIMIT_AS); an allocation past it raises MemoryError.
        processes: Processes of the sandbox's uid (RLIMIT_NPROC); stops fork bombs.
        open_files: Open file descriptors (RLIMIT_NOFILE).
        file_mb: Largest file the tool may write (MiB, RLIMIT_FSIZE).
        output_bytes: Largest reply (the JSON result, bytes); past it the call is killed.
    """

    model_config = _FROZEN
    cpu_s: int = Field(default=10, ge=1)
    wall_s: float = Field(default=15.0, gt=0)
    memory_mb: int = Field(default=512, ge=64)
    processes: int = Field(default=32, ge=1)
    open_files: int = Field(default=64, ge=16)
    file_mb: int = Field(default=64, ge=1)
    output_bytes: int = Field(default=1_000_000, ge=1024)


class SandboxMount(BaseModel):
    """A host folder the tool may see, at the same path.

    Attributes:
        path: The folder (absolute once resolved).
        writable: Mounted read-write; read-only otherwise. When nexthop runs as root the
            tool runs as a uid of its own, so the folder must be writable by it to write.
    """

    model_config = _FROZEN
    path: Path
    writable: bool = False


class SandboxConfig(BaseModel):
    """The sandbox's settings.

    Attributes:
        limits: Per-call limits.
        mounts: Host folders to mount (the run's roots); none by default.
        packages: Installed distributions to mount read-only (default none: stdlib only).
        workdir: The tool's working directory: one of the mounts' paths, so that relative
            paths mean what they mean to a server started in that folder; None keeps the
            private scratch folder.

    Raises:
        ValidationError: ``workdir`` is not the path of a mount.
    """

    model_config = _FROZEN
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    mounts: tuple[SandboxMount, ...] = ()
    packages: tuple[str, ...] = ()
    workdir: Path | None = None

    @model_validator(mode="after")
    def _workdir_is_mounted(self) -> SandboxConfig:
        if self.workdir is not None and self.workdir not in {m.path for m in self.mounts}:
            raise ValueError(f"workdir {self.workdir} is not one of the mounts; mount it or leave workdir out")
        return self


class SandboxOutcome(BaseModel):
    """How one sandboxed call ended.

    Attributes:
        kind: ``returned`` (``value`` holds the result), ``raised`` (the function raised:
            ``error`` and ``traceback``), ``timed_out`` (killed at the wall-time limit),
            ``too_large`` (the reply passed ``output_bytes``), ``crashed`` (the process died
            without a reply: CPU limit, a signal, a broken interpreter; ``error`` says how).
        value: The function's return value (JSON).
        error: One line: the exception, or how the process ended.
        traceback: The traceback's lines inside the tool's source, last the exception.
        stderr: The tail of what the tool printed (at most 2,000 characters).
        duration_s: Wall time of the call, sandbox start-up included (seconds).
    """

    model_config = _FROZEN
    kind: Literal["returned", "raised", "timed_out", "too_large", "crashed"]
    value: Any = None
    error: str = ""
    traceback: tuple[str, ...] = ()
    stderr: str = ""
    duration_s: float = 0.0


_RUNNER = resources.files("nexthop.host").joinpath("_sandbox_runner.py").read_text(encoding="utf-8")


def bwrap_command(config: SandboxConfig, scratch: str, package_binds: list[tuple[str, str]]) -> list[str]:
    """The ``bwrap`` command line for one call (the runner is passed with ``-c``).

    Raises:
        SandboxUnavailable: bubblewrap or ``ldd`` is missing.
    """
    runtime = runtime_mounts()
    cmd = [bwrap_path(), "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.getuid() == 0:
        # No user namespace: uid 0 inside would be exempt from RLIMIT_NPROC. The runner
        # needs these two capabilities once, to drop to its own uid (then it has none).
        cmd += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
    else:
        cmd += ["--unshare-user"]
    cmd += ["--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev"]
    binds = [*runtime.binds, *package_binds]
    made: set[str] = set()
    for _, dest in [*binds, *((str(m.path), str(m.path)) for m in config.mounts), (scratch, _SCRATCH)]:
        for folder in parents(dest):
            if folder not in made and not any(os.path.islink(link) and folder == link for _, link in runtime.symlinks):
                made.add(folder)
                cmd += ["--perms", "0755", "--dir", folder]  # bwrap would copy 0700 from /root otherwise
    cmd += [arg for target, link in runtime.symlinks for arg in ("--symlink", target, link)]
    cmd += [arg for src, dest in binds for arg in ("--ro-bind", src, dest)]
    cmd += [arg for h in runtime.hidden for arg in ("--tmpfs", h)]
    for m in config.mounts:
        cmd += ["--bind" if m.writable else "--ro-bind", str(m.path), str(m.path)]
    cmd += ["--bind", scratch, _SCRATCH, "--chdir", str(config.workdir or _SCRATCH)]
    env = {"HOME": _SCRATCH, "TMPDIR": _SCRATCH, "LANG": "C.UTF-8", "PATH": "/nonexistent"}
    cmd += [arg for k, v in env.items() for arg in ("--setenv", k, v)]
    return [*cmd, runtime.executable, "-I", "-S", "-B", "-X", "utf8", "-c", _RUNNER]


async def run_sandboxed(
    source: str, function: str, arguments: dict[str, Any], config: SandboxConfig | None = None
) -> SandboxOutcome:
    """Run ``function(**arguments)`` from ``source`` in a fresh sandbox.

    Args:
        source: Python source defining ``function`` (it may import the standard library
            and the allowlisted packages).
        function: The name of the function to call.
        arguments: Its keyword arguments (JSON).
        config: Limits, mounts and packages; the defaults when None.

    Returns:
        How the call ended; a failing tool is an outcome, never an exception.

    Raises:
        SandboxUnavailable: bubblewrap (or ``ldd``) is missing: install it; nothing runs.
        ConfigError: An allowlisted package is not installed.
    """
    config = config or SandboxConfig()
    limits = config.limits
    package_binds, paths = package_mounts(config.packages)
    uid = random.randrange(200_000, 2_000_000)  # a uid no other process has: its own RLIMIT_NPROC count
    request = {
        "source": source,
        "function": function,
        "arguments": arguments,
        "paths": paths,
        "uid": uid,
        "limits": {
            "cpu_s": limits.cpu_s,
            "memory_bytes": limits.memory_mb * _MiB,
            "processes": limits.processes,
            "open_files": limits.open_files,
            "file_bytes": limits.file_mb * _MiB,
        },
    }
    scratch = tempfile.mkdtemp(prefix="nexthop-sandbox-")
    try:
        if os.getuid() == 0:
            os.chown(scratch, uid, uid)
        cmd = bwrap_command(config, scratch, package_binds)
        return await _run(cmd, json.dumps(request).encode(), limits)
    finally:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(scratch, ignore_errors=True))


async def _run(cmd: list[str], request: bytes, limits: SandboxLimits) -> SandboxOutcome:
    start = time.perf_counter()
    deadline = anyio.current_time() + limits.wall_s  # the sandbox's own start-up counts too
    process = await anyio.open_process(cmd, start_new_session=True)
    reply, err = bytearray(), bytearray()
    too_large = False
    try:
        with anyio.move_on_at(deadline) as timer:
            assert process.stdin and process.stdout and process.stderr
            async with process.stdin:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await process.stdin.send(request)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_drain, process.stderr, err, 64_000)
                too_large = not await _read(process.stdout, reply, limits.output_bytes)
                if too_large:
                    tg.cancel_scope.cancel()
            if not too_large:
                await process.wait()
    finally:
        with anyio.CancelScope(shield=True):
            await _kill(process)
    outcome = _outcome(bytes(reply), bytes(err), process.returncode, timer.cancelled_caught, too_large, limits)
    return outcome.model_copy(update={"duration_s": time.perf_counter() - start})


async def _read(stream: anyio.abc.ByteReceiveStream, into: bytearray, cap: int) -> bool:
    """Read ``stream`` to its end into ``into``; False as soon as it passes ``cap`` bytes."""
    async for chunk in stream:
        into += chunk
        if len(into) > cap:
            return False
    return True


async def _drain(stream: anyio.abc.ByteReceiveStream, into: bytearray, keep: int) -> None:
    async for chunk in stream:
        into += chunk
        del into[:-keep]


async def _kill(process: anyio.abc.Process) -> None:
    """End bwrap and so its PID namespace (every process the tool started), then reap it and close its pipes."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    await process.aclose()


def _outcome(
    reply: bytes, err: bytes, code: int | None, timed_out: bool, too_large: bool, limits: SandboxLimits
) -> SandboxOutcome:
    stderr = err.decode("utf-8", "replace")[-2000:]
    if timed_out:
        return SandboxOutcome(kind="timed_out", error=f"killed after the wall-time limit of {limits.wall_s:g} s")
    if too_large:
        return SandboxOutcome(kind="too_large", error=f"the result passed the limit of {limits.output_bytes} bytes")
    try:
        data = _Reply.model_validate_json(reply)
    except ValidationError:
        if reply.strip():
            return SandboxOutcome(kind="crashed", error="the sandbox sent a malformed reply", stderr=stderr)
        return SandboxOutcome(kind="crashed", error=_death(code, limits), stderr=stderr)
    if data.ok:
        return SandboxOutcome(kind="returned", value=data.value, stderr=stderr)
    return SandboxOutcome(kind="raised", error=data.error, traceback=tuple(data.traceback), stderr=stderr)


class _Reply(BaseModel):
    """The runner's reply (see `_sandbox_runner`)."""

    ok: bool
    value: Any = None
    error: str = ""
    traceback: list[str] = Field(default_factory=list[str])


def _death(code: int | None, limits: SandboxLimits) -> str:
    """How a process that sent no reply ended, in words."""
    # bwrap exits with 128 + the signal that killed the tool.
    sig = -code if code is not None and code < 0 else (code - 128 if code is not None and code > 128 else 0)
    if sig == signal.SIGXCPU:
        return f"the tool's process was killed past the CPU-time limit of {limits.cpu_s} s"
    with contextlib.suppress(ValueError):
        return f"the tool's process was killed by {signal.Signals(sig).name} and sent no result"
    return f"the tool's process exited with status {code} and sent no result"
