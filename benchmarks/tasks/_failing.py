"""Multi-step tasks with failing tools: every call fails with p = 0.5 (Autono's third category).

The tasks are as hard as the multi-step ones; the runner puts the fault-injecting proxy
(`_fault_proxy`) in front of both servers, so a failed call changes nothing and the agent
must notice the error and call again.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.tasks._task import (
    Task,
    absent,
    all_of,
    file_is,
    file_lines,
    file_number,
    move,
    rows_are,
    run_sql,
    write,
)

__all__ = ["FAILING_TOOLS"]

_INVENTORY = """
CREATE TABLE inventory (id INTEGER PRIMARY KEY, item TEXT, quantity INTEGER);
INSERT INTO inventory (item, quantity) VALUES ('paper', 40), ('toner', 2), ('staples', 12), ('folders', 4);
"""
_USERS = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, active INTEGER);
INSERT INTO users VALUES (1, 'kim', 'kim@example.com', 1), (2, 'lee', 'lee@example.com', 0),
  (3, 'max', 'max@example.com', 1), (4, 'ola', 'ola@example.com', 0), (5, 'pat', 'pat@example.com', 0);
"""
_README = "Project Tide\n\nA small tool for tide tables.\n"


def _archive_logs(ws: Path) -> None:
    move(ws, "old1.log", "archive/old1.log")
    move(ws, "old2.log", "archive/old2.log")


def _rename_and_edit(ws: Path) -> None:
    move(ws, "readme.txt", "README.md")
    write(ws, "README.md", _README.replace("Project Tide", "# Project Tide", 1))


def _purge_inactive(ws: Path) -> None:
    run_sql(ws, "DELETE FROM users WHERE active = 0;")
    write(ws, "deleted.txt", "3\n")


FAILING_TOOLS: tuple[Task, ...] = (
    Task(
        id="ft_reverse_lines",
        category="failing_tools",
        prompt="Read lines.txt and write its lines in reverse order to reversed.txt.",
        files={"lines.txt": "alpha\nbravo\ncharlie\ndelta\n"},
        check=file_lines("reversed.txt", ["delta", "charlie", "bravo", "alpha"]),
        solve=lambda ws: write(ws, "reversed.txt", "delta\ncharlie\nbravo\nalpha\n"),
    ),
    Task(
        id="ft_cities_table",
        category="failing_tools",
        prompt="Make a table cities (name, country) and fill it with the cities listed in cities.txt.",
        files={"cities.txt": "Porto, Portugal\nGhent, Belgium\nKyoto, Japan\n"},
        check=rows_are(
            "SELECT name, country FROM cities", [("Porto", "Portugal"), ("Ghent", "Belgium"), ("Kyoto", "Japan")]
        ),
        solve=lambda ws: run_sql(
            ws,
            "CREATE TABLE cities (name TEXT, country TEXT);"
            "INSERT INTO cities VALUES ('Porto', 'Portugal'), ('Ghent', 'Belgium'), ('Kyoto', 'Japan');",
        ),
    ),
    Task(
        id="ft_payments_total",
        category="failing_tools",
        prompt="What do the payments in the payments table add up to? Save the total in total.txt.",
        sql="CREATE TABLE payments (id INTEGER PRIMARY KEY, amount REAL);"
        "INSERT INTO payments (amount) VALUES (19.99), (5.01), (100), (75.5);",
        check=file_number("total.txt", 200.5),
        solve=lambda ws: write(ws, "total.txt", "200.5\n"),
    ),
    Task(
        id="ft_archive_logs",
        category="failing_tools",
        prompt="Create a folder named archive and move old1.log and old2.log into it.",
        files={"old1.log": "first\n", "old2.log": "second\n", "current.log": "now\n"},
        check=all_of(
            file_is("archive/old1.log", "first"),
            file_is("archive/old2.log", "second"),
            absent("old1.log"),
            absent("old2.log"),
            file_is("current.log", "now"),
        ),
        solve=_archive_logs,
    ),
    Task(
        id="ft_unique_emails",
        category="failing_tools",
        prompt="emails.txt has some addresses more than once. Write each address once, in the order they first "
        "appear, to unique.txt.",
        files={"emails.txt": "a@x.org\nb@x.org\na@x.org\nc@x.org\nb@x.org\n"},
        check=file_lines("unique.txt", ["a@x.org", "b@x.org", "c@x.org"]),
        solve=lambda ws: write(ws, "unique.txt", "a@x.org\nb@x.org\nc@x.org\n"),
    ),
    Task(
        id="ft_add_user_from_json",
        category="failing_tools",
        prompt="Add the user described in new_user.json to the users table.",
        files={"new_user.json": json.dumps({"id": 6, "name": "rae", "email": "rae@example.com", "active": 1})},
        sql=_USERS,
        check=rows_are("SELECT name, email, active FROM users WHERE id = 6", [("rae", "rae@example.com", 1)]),
        solve=lambda ws: run_sql(ws, "INSERT INTO users VALUES (6, 'rae', 'rae@example.com', 1);"),
    ),
    Task(
        id="ft_rename_and_edit",
        category="failing_tools",
        prompt="Rename readme.txt to README.md and turn its first line into a Markdown heading (# Project Tide).",
        files={"readme.txt": _README},
        check=all_of(file_is("README.md", _README.replace("Project Tide", "# Project Tide", 1)), absent("readme.txt")),
        solve=_rename_and_edit,
    ),
    Task(
        id="ft_reorder_list",
        category="failing_tools",
        prompt="Which inventory items have fewer than 5 left? Write their names to reorder.txt, one per line.",
        sql=_INVENTORY,
        check=file_lines("reorder.txt", ["toner", "folders"], ordered=False),
        solve=lambda ws: write(ws, "reorder.txt", "toner\nfolders\n"),
    ),
    Task(
        id="ft_nested_report",
        category="failing_tools",
        prompt="Create the folder reports/2024 and put a summary.txt in it that says: No incidents.",
        check=file_is("reports/2024/summary.txt", "No incidents."),
        solve=lambda ws: write(ws, "reports/2024/summary.txt", "No incidents.\n"),
    ),
    Task(
        id="ft_purge_inactive",
        category="failing_tools",
        prompt="Delete the inactive users (active = 0) from the users table and write how many you deleted to "
        "deleted.txt.",
        sql=_USERS,
        check=all_of(rows_are("SELECT id FROM users", [(1,), (3,)]), file_number("deleted.txt", 3)),
        solve=_purge_inactive,
    ),
)
