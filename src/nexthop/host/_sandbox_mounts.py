"""What the sandbox sees of the host: the Python runtime, the libraries it links, the allowlisted packages.

Only these are mounted, read-only, at the paths they have on the host (so the
interpreter finds its prefix and every ``RPATH`` still resolves): the interpreter
binary, the standard library with its extension modules (the base installation's
site-packages hidden under an empty tmpfs), and each shared library that the
interpreter or those modules link, as ``ldd`` resolves it. No shell, no ``/usr/bin``,
no ``/etc`` beyond the loader's cache.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nexthop._exceptions import ConfigError

__all__ = ["RuntimeMounts", "SandboxUnavailable", "bwrap_path", "package_mounts", "runtime_mounts"]

INSTALL_HINT = (
    "tool synthesis needs bubblewrap, which is not installed: "
    "apt-get update && apt-get install -y bubblewrap (Debian/Ubuntu; dnf install bubblewrap on Fedora). "
    "nexthop never runs model-written code outside the sandbox"
)


class SandboxUnavailable(ConfigError):
    """The sandbox cannot run here (bubblewrap or ``ldd`` missing, or bubblewrap fails); synthesis stays off."""


@dataclass(frozen=True)
class RuntimeMounts:
    """The read-only view of the Python runtime.

    Attributes:
        executable: The interpreter binary (real path).
        binds: ``(host path, sandbox path)`` pairs, mounted read-only.
        hidden: Folders covered by an empty tmpfs (the base installation's site-packages).
        symlinks: ``(target, link)`` pairs recreated inside (``/lib -> usr/lib`` on merged-/usr systems).
    """

    executable: str
    binds: tuple[tuple[str, str], ...]
    hidden: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...]


def bwrap_path() -> str:
    """The bubblewrap binary.

    Raises:
        SandboxUnavailable: It is not on PATH (the message says how to install it).
    """
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(INSTALL_HINT)
    return found


@functools.cache
def runtime_mounts() -> RuntimeMounts:
    """The runtime's mounts, computed once per process (one ``ldd`` run over ~80 files, ~50 ms).

    Raises:
        SandboxUnavailable: ``ldd`` is missing or fails.
    """
    executable = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix, "installed_base": sys.base_prefix}
    paths = sysconfig.get_paths(vars=base)
    stdlib = {os.path.realpath(paths["stdlib"]), os.path.realpath(paths["platstdlib"])}
    site = {os.path.realpath(paths["purelib"]), os.path.realpath(paths["platlib"])}
    hidden = tuple(sorted(s for s in site if os.path.isdir(s) and any(_inside(s, d) for d in stdlib)))
    extensions = [f for d in stdlib for f in _extensions(d, skip=hidden)]
    libraries = shared_libraries([executable, *extensions])
    binds = [(executable, executable), *((d, d) for d in sorted(stdlib)), *libraries]
    if os.path.exists("/etc/ld.so.cache"):  # the loader's index of library paths; names only
        binds.append(("/etc/ld.so.cache", "/etc/ld.so.cache"))
    return RuntimeMounts(executable, tuple(binds), hidden, _top_symlinks(dest for _, dest in binds))


def shared_libraries(files: Iterable[str]) -> list[tuple[str, str]]:
    """The shared libraries ``files`` link, as ``(host path, sandbox path)``: the sandbox path has its
    folders resolved (``/lib/x86_64-linux-gnu`` → ``/usr/lib/x86_64-linux-gnu``), the file keeps its name.

    Raises:
        SandboxUnavailable: ``ldd`` is missing.
    """
    ldd = shutil.which("ldd")
    if ldd is None:
        raise SandboxUnavailable("the sandbox needs ldd (package libc-bin) to find the libraries Python links")
    names = list(files)
    if not names:
        return []
    out = subprocess.run([ldd, *names], capture_output=True, text=True, check=False).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        path = next((w for w in line.split() if w.startswith("/") and not w.endswith(":")), None)
        if path is not None and os.path.exists(path):
            dest = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
            found.setdefault(dest, path)
    return sorted((src, dest) for dest, src in found.items())


def package_mounts(names: Iterable[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Read-only mounts for allowlisted installed distributions, and the folders to put on ``sys.path``.

    Each distribution's top-level entries (package folders, modules, ``*.libs`` and its
    ``.dist-info``) are mounted at their host paths, never its whole site-packages.

    Args:
        names: Distribution names as pip knows them (``numpy``, ``python-dateutil``).

    Raises:
        ConfigError: A name is not installed in this environment.
    """
    binds: dict[str, str] = {}
    roots: list[str] = []
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise ConfigError(f"sandbox package {name!r} is not installed in this environment") from None
        root = os.path.realpath(str(dist.locate_file("")))
        roots.append(root)
        for file in dist.files or []:
            top = file.parts[0]
            if top != ".." and top != "__pycache__":
                path = os.path.join(root, top)
                if os.path.exists(path):
                    binds[path] = path
    extensions = [f for top in binds if os.path.isdir(top) for f in _extensions(top)]
    return [*binds.items(), *shared_libraries(extensions)], sorted(set(roots))


def _extensions(folder: str, skip: Iterable[str] = ()) -> list[str]:
    """The extension modules (``*.so``) under ``folder``, not descending into ``skip``."""
    skipped = set(skip)
    found: list[str] = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if os.path.join(here, d) not in skipped]
        found += [os.path.join(here, f) for f in files if f.endswith(".so")]
    return found


def parents(path: str) -> list[str]:
    """The folders above ``path``, outermost first (``/a/b/c`` → ``/a``, ``/a/b``)."""
    parts = Path(path).parent.parts
    return [str(Path(*parts[: i + 1])) for i in range(1, len(parts))]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _top_symlinks(dests: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Top-level host symlinks (``/lib``, ``/lib64``) the loader names, recreated so its paths resolve."""
    links = {"/" + Path(d).parts[1] for d in dests if len(Path(d).parts) > 1}
    links |= {"/lib", "/lib64"}
    return tuple(sorted((os.readlink(p), p) for p in links if os.path.islink(p)))
