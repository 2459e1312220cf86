"""Process-tree checks for the stdio integration tests (Linux: reads /proc).

A stdio server is a child process, sometimes with children of its own (``npx`` starts
``sh``, which starts ``node``). To prove nothing outlives the host, tests take a
`snapshot` of the tree while the servers run and, after the host exits, assert that
every process in it is gone: a grandchild reparented to init no longer shows up in
``children()``, so comparing child lists alone would miss exactly the orphans we fear.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable, Iterable, Iterator

import anyio
import psutil

__all__ = [
    "no_new_children",
    "alive",
    "descendants",
    "find_process",
    "stdin_backlog",
    "suspend",
    "wait_for",
    "wait_gone",
]


def alive(proc: psutil.Process) -> bool:
    """Whether the process still runs; a zombie (exited, not yet reaped) counts as gone.

    ``is_running`` compares creation times, so a reused pid is not mistaken for it.
    """
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(exclude: Iterable[psutil.Process] = ()) -> list[psutil.Process]:
    """This process's live descendants, leaving out those in ``exclude``."""
    skip = {(p.pid, _created(p)) for p in exclude}
    return [p for p in psutil.Process().children(recursive=True) if alive(p) and (p.pid, _created(p)) not in skip]


@contextlib.contextmanager
def no_new_children() -> Iterator[None]:
    """Fail if the block leaves a child process behind (killing any, so one leak does not poison later tests)."""
    before = descendants()
    yield
    left = descendants(exclude=before)
    _, still = psutil.wait_procs(left, timeout=2)
    still = [p for p in still if alive(p)]
    for p in still:
        p.kill()
    assert not still, f"processes left behind: {[p.pid for p in still]}"


def find_process(procs: Iterable[psutil.Process], *fragments: str) -> psutil.Process:
    """The one process whose command line contains every fragment (fails the test if not exactly one)."""
    found = [p for p in procs if alive(p) and all(f in " ".join(_cmdline(p)) for f in fragments)]
    assert len(found) == 1, f"expected one process matching {fragments}, found {[_cmdline(p) for p in found]}"
    return found[0]


async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.01) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout_s`` seconds."""
    try:
        with anyio.fail_after(timeout_s):
            while not condition():
                await anyio.sleep(interval_s)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}") from None


async def wait_gone(procs: Iterable[psutil.Process], timeout_s: float = 2.0) -> list[str]:
    """Wait until none of ``procs`` is alive; return a description of any survivors.

    The grace only absorbs the kernel delivering an exit already under way; a
    process that was never told to stop is still reported.
    """
    procs = list(procs)
    with anyio.move_on_after(timeout_s):
        while any(alive(p) for p in procs):
            await anyio.sleep(0.02)
    return [f"{p.pid} {' '.join(_cmdline(p))}" for p in procs if alive(p)]


async def suspend(proc: psutil.Process) -> None:
    """SIGSTOP the process and wait until every one of its threads has stopped.

    The signal lands asynchronously: a thread woken from a pipe read takes data that
    arrived meanwhile before it stops, so a request sent too early would slip through.
    """
    proc.send_signal(signal.SIGSTOP)
    await wait_for(lambda: _all_threads_stopped(proc.pid), 10, f"process {proc.pid} to stop")


def _all_threads_stopped(pid: int) -> bool:
    states: list[str] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended while we looked
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                states.append(stat.read().rpartition(")")[2].split()[0])
    return bool(states) and all(state in "tT" for state in states)


def stdin_backlog(pid: int) -> int:
    """Bytes written by this process into ``pid``'s protocol input pipe that it has not read yet.

    The pipe is found as the one ``pid`` reads from and this process holds too (its
    write end); servers may have moved it off fd 0 (the MCP SDK does). With the
    server stopped (SIGSTOP), a backlog above zero proves a request is waiting in it.
    """
    ours = {_link(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        link = _link(f"/proc/{pid}/fd/{fd}")
        if not link.startswith("pipe:") or link not in ours or not _reads(pid, fd):
            continue
        handle = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
        try:
            return struct.unpack("i", fcntl.ioctl(handle, termios.FIONREAD, b"\0" * 4))[0]
        finally:
            os.close(handle)
    raise AssertionError(f"process {pid} reads no pipe shared with the test process")


def _reads(pid: int, fd: str) -> bool:
    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE == os.O_RDONLY
    return False


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # an fd closed while we looked
        return ""


def _created(proc: psutil.Process) -> float:
    try:
        return proc.create_time()
    except psutil.NoSuchProcess:
        return 0.0


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return [part for part in proc.cmdline() if part]
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return [f"<{proc.pid} gone>"]
