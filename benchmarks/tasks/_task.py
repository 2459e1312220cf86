"""The task value and the small vocabulary tasks are written in: checks on files and rows.

A task is data: a user's request, the workspace it starts from (seed files, folders and a
seed SQLite database ``data.db``), a check that judges only the state the run leaves
behind, and a reference solution that reaches that state directly, without a model (the
unit tests use it to prove that each check can pass and that it fails on the untouched
workspace).

A check returns None when the state is right, else one line saying what is wrong. Checks
are lenient where users would be: trailing whitespace, a final newline, a header line in a
CSV, integer versus real columns, numbers written as ``12.5`` or ``12.50``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CATEGORIES",
    "DB_NAME",
    "Category",
    "Check",
    "Task",
    "absent",
    "all_of",
    "file_contains",
    "file_is",
    "file_json",
    "file_lines",
    "file_number",
    "file_pairs",
    "is_dir",
    "move",
    "rows_are",
    "run_sql",
    "table_absent",
    "table_has_columns",
    "write",
]

Category = Literal["one_step", "multi_step", "failing_tools", "recovery"]
CATEGORIES: tuple[Category, ...] = ("one_step", "multi_step", "failing_tools", "recovery")
"""The categories, after Autono (arXiv 2504.04650) plus recovery from a user's or a tool's mistake."""

DB_NAME = "data.db"
"""The SQLite database every workspace offers (the server is started with ``--db-path data.db``)."""

Check = Callable[[Path], "str | None"]
"""Judges a workspace: None when the task is done, else what is wrong (one line)."""


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        id: Unique, stable name (``<category prefix>_<what>``), used by ``--task`` and in results.
        category: One of `CATEGORIES`; ``failing_tools`` runs behind the fault-injecting proxy.
        prompt: The request, phrased as a user would.
        check: Judges the workspace the run left (see `Check`).
        solve: A reference solution applied directly to a workspace (no model, no server).
        files: Seed files: path relative to the workspace to text content.
        dirs: Seed folders (relative paths), created even when empty.
        sql: A seed script run on ``data.db``; empty leaves the database to the server.
    """

    id: str
    category: Category
    prompt: str
    check: Check
    solve: Callable[[Path], None]
    files: Mapping[str, str] = field(default_factory=dict[str, str])
    dirs: Sequence[str] = ()
    sql: str = ""
    kind: Literal["task"] = "task"

    @property
    def faults(self) -> bool:
        """Whether the task's tools fail on purpose (each call with p = 0.5)."""
        return self.category == "failing_tools"

    def setup(self, workspace: Path) -> None:
        """Fill an empty workspace folder with the task's seed files, folders and database."""
        for d in self.dirs:
            (workspace / d).mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            write(workspace, name, content)
        if self.sql:
            run_sql(workspace, self.sql)


# --- what reference solutions use -------------------------------------------------------


def write(workspace: Path, name: str, content: str) -> None:
    """Write a text file, creating its folders."""
    path = workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def move(workspace: Path, source: str, destination: str) -> None:
    """Move a file, creating the destination's folders."""
    target = workspace / destination
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(workspace / source, target)


def run_sql(workspace: Path, script: str) -> None:
    """Run a SQL script on the workspace's ``data.db`` and commit."""
    with sqlite3.connect(workspace / DB_NAME) as conn:
        conn.executescript(script)


def _query(workspace: Path, sql: str) -> list[tuple[Any, ...]] | str:
    db = workspace / DB_NAME
    if not db.is_file():
        return f"{DB_NAME} does not exist"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error as e:
        return f"{sql!r} failed: {e}"


def _read(workspace: Path, name: str) -> str | None:
    path = workspace / name
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def _norm(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n")]


def _number(text: Any) -> float | None:
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    try:
        return float(str(text).strip().strip("$").replace(",", ""))
    except ValueError:
        return None


def _value(v: Any) -> Any:
    # Rows compare with numbers as numbers (an INTEGER 3 equals a REAL 3.0 and a TEXT '3').
    n = _number(v)
    return round(n, 2) if n is not None else v


# --- checks -------------------------------------------------------------------------------


def all_of(*checks: Check) -> Check:
    """Pass when every check passes; report the first failure."""

    def check(workspace: Path) -> str | None:
        for c in checks:
            if (problem := c(workspace)) is not None:
                return problem
        return None

    return check


def file_is(name: str, content: str) -> Check:
    """The file holds exactly ``content``, up to trailing whitespace on lines and at the end."""

    def check(workspace: Path) -> str | None:
        text = _read(workspace, name)
        if text is None:
            return f"{name} does not exist"
        return None if _norm(text) == _norm(content) else f"{name} holds {text[:120]!r}, expected {content!r}"

    return check


def file_contains(name: str, *parts: str, lacks: Sequence[str] = ()) -> Check:
    """The file contains every one of ``parts`` and none of ``lacks``."""

    def check(workspace: Path) -> str | None:
        text = _read(workspace, name)
        if text is None:
            return f"{name} does not exist"
        for p in parts:
            if p not in text:
                return f"{name} lacks {p!r}"
        for p in lacks:
            if p in text:
                return f"{name} still contains {p!r}"
        return None

    return check


def file_lines(name: str, lines: Sequence[str], *, ordered: bool = True) -> Check:
    """The file's non-blank lines, stripped, are ``lines`` (in order unless ``ordered=False``)."""

    def check(workspace: Path) -> str | None:
        text = _read(workspace, name)
        if text is None:
            return f"{name} does not exist"
        got = [line.strip() for line in text.splitlines() if line.strip()]
        same = got == list(lines) if ordered else sorted(got) == sorted(lines)
        return None if same else f"{name} has lines {got[:12]}, expected {list(lines)}"

    return check


def file_json(name: str, value: Any) -> Check:
    """The file parses as JSON equal to ``value``."""

    def check(workspace: Path) -> str | None:
        text = _read(workspace, name)
        if text is None:
            return f"{name} does not exist"
        try:
            got = json.loads(text)
        except json.JSONDecodeError:
            return f"{name} is not JSON: {text[:120]!r}"
        return None if got == value else f"{name} holds {got!r}, expected {value!r}"

    return check


def file_number(name: str, value: float) -> Check:
    """The file's text is one number (a label around it is allowed) equal to ``value`` within 0.01."""

    def check(workspace: Path) -> str | None:
        text = _read(workspace, name)
        if text is None:
            return f"{name} does not exist"
        numbers = [n for word in text.replace(":", " ").replace("=", " ").split() if (n := _number(word)) is not None]
        ok = len(numbers) == 1 and abs(numbers[0] - value) <= 0.01
        return None if ok else f"{name} holds {text[:80]!r}, expected the number {value:g}"

    return check


def file_pairs(name: str, pairs: Mapping[str, float]) -> Check:
    """The file has one ``key,number`` line per pair (any header line is ignored), and no other keys."""

    def check(workspace: Path) -> str | None:
        text = _read(workspace, name)
        if text is None:
            return f"{name} does not exist"
        got: dict[str, float] = {}
        for line in text.splitlines():
            key, sep, num = line.rpartition(",")
            n = _number(num)
            if sep and n is not None:
                got[key.strip().strip('"')] = n
        ok = got.keys() == pairs.keys() and all(abs(got[k] - v) <= 0.01 for k, v in pairs.items())
        return None if ok else f"{name} holds {got!r}, expected {dict(pairs)!r}"

    return check


def absent(name: str) -> Check:
    """No file or folder by that name."""
    return lambda workspace: f"{name} still exists" if (workspace / name).exists() else None


def is_dir(name: str) -> Check:
    """The folder exists."""
    return lambda workspace: None if (workspace / name).is_dir() else f"folder {name} does not exist"


def rows_are(sql: str, expected: Sequence[Sequence[Any]], *, ordered: bool = False) -> Check:
    """The query returns exactly ``expected`` (numbers compared to 2 decimals; order ignored by default)."""
    want = [tuple(_value(v) for v in row) for row in expected]

    def check(workspace: Path) -> str | None:
        got = _query(workspace, sql)
        if isinstance(got, str):
            return got
        rows = [tuple(_value(v) for v in row) for row in got]
        same = rows == want if ordered else sorted(rows, key=repr) == sorted(want, key=repr)
        return None if same else f"{sql!r} returned {rows[:10]}, expected {want}"

    return check


def table_absent(name: str) -> Check:
    """The database has no table by that name."""
    return rows_are(f"SELECT name FROM sqlite_master WHERE type='table' AND name='{name}'", [])


def table_has_columns(table: str, columns: Sequence[str]) -> Check:
    """The table exists and has (at least) these columns, compared without regard to case."""

    def check(workspace: Path) -> str | None:
        got = _query(workspace, f"PRAGMA table_info({table})")
        if isinstance(got, str):
            return got
        names = {str(row[1]).lower() for row in got}
        if not names:
            return f"table {table} does not exist"
        missing = {c.lower() for c in columns} - names
        return f"table {table} lacks columns {sorted(missing)}" if missing else None

    return check
