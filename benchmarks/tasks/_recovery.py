"""Recovery tasks: the first obvious call fails (a wrong file name, a missing folder, bad SQL).

The user's words are slightly off, as users' words are: the file is ``meeting_notes.txt``
not ``meeting-notes.txt``, the folder does not exist yet, the table is ``cities`` not
``city``, the SQL they pasted has a typo. The agent must read the error, look, and adapt.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.tasks._task import (
    Task,
    absent,
    all_of,
    file_is,
    file_lines,
    move,
    rows_are,
    run_sql,
    write,
)

__all__ = ["RECOVERY"]

_NOTES = "Decisions:\n- ship on Friday\n- hire a designer\n"


def _append_line(ws: Path) -> None:
    write(ws, "shopping_list.txt", "eggs\nbread\nmilk\n")


def _move_to_backup(ws: Path) -> None:
    move(ws, "data.csv", "backup/data.csv")


def _record_sale(ws: Path) -> None:
    run_sql(ws, "CREATE TABLE sales (item TEXT, quantity INTEGER); INSERT INTO sales VALUES ('pen', 3);")


RECOVERY: tuple[Task, ...] = (
    Task(
        id="rc_wrong_file_name",
        category="recovery",
        prompt="Copy meeting-notes.txt to summary.txt.",
        files={"meeting_notes.txt": _NOTES},
        check=file_is("summary.txt", _NOTES),
        solve=lambda ws: write(ws, "summary.txt", _NOTES),
    ),
    Task(
        id="rc_missing_folder_write",
        category="recovery",
        prompt="Save the word done into results/status.txt.",
        check=file_is("results/status.txt", "done"),
        solve=lambda ws: write(ws, "results/status.txt", "done\n"),
    ),
    Task(
        id="rc_missing_folder_move",
        category="recovery",
        prompt="Move data.csv into the backup folder.",
        files={"data.csv": "a,b\n1,2\n"},
        check=all_of(file_is("backup/data.csv", "a,b\n1,2"), absent("data.csv")),
        solve=_move_to_backup,
    ),
    Task(
        id="rc_wrong_table_name",
        category="recovery",
        prompt="Add Oslo, Norway to the city table.",
        sql="CREATE TABLE cities (name TEXT, country TEXT); INSERT INTO cities VALUES ('Lima', 'Peru');",
        check=rows_are("SELECT name, country FROM cities", [("Lima", "Peru"), ("Oslo", "Norway")]),
        solve=lambda ws: run_sql(ws, "INSERT INTO cities VALUES ('Oslo', 'Norway');"),
    ),
    Task(
        id="rc_wrong_column_name",
        category="recovery",
        prompt="Write the email of every user in the users table to emails.txt, one per line.",
        sql="CREATE TABLE users (id INTEGER PRIMARY KEY, full_name TEXT, email_address TEXT);"
        "INSERT INTO users VALUES (1, 'Kim Ode', 'kim@ode.net'), (2, 'Li Wu', 'li@wu.org');",
        check=file_lines("emails.txt", ["kim@ode.net", "li@wu.org"], ordered=False),
        solve=lambda ws: write(ws, "emails.txt", "kim@ode.net\nli@wu.org\n"),
    ),
    Task(
        id="rc_wrong_extension",
        category="recovery",
        prompt="Add milk at the end of my shopping list in shopping_list.md.",
        files={"shopping_list.txt": "eggs\nbread\n"},
        check=all_of(file_lines("shopping_list.txt", ["eggs", "bread", "milk"]), absent("shopping_list.md")),
        solve=_append_line,
    ),
    Task(
        id="rc_sql_typo",
        category="recovery",
        prompt="Please run this on the database: INSERT INTO notes (body) VALUE ('call Bob about the lease')",
        sql="CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
        check=rows_are("SELECT body FROM notes", [("call Bob about the lease",)]),
        solve=lambda ws: run_sql(ws, "INSERT INTO notes (body) VALUES ('call Bob about the lease');"),
    ),
    Task(
        id="rc_wrong_folder_name",
        category="recovery",
        prompt="List the files in my photo folder and write their names to photos.txt, one per line.",
        files={"photos/lake.png": "1", "photos/tree.png": "2", "photos/dog.png": "3"},
        check=file_lines("photos.txt", ["lake.png", "tree.png", "dog.png"], ordered=False),
        solve=lambda ws: write(ws, "photos.txt", "dog.png\nlake.png\ntree.png\n"),
    ),
    Task(
        id="rc_missing_table",
        category="recovery",
        prompt="Record that we sold 3 pens: add a row with item pen and quantity 3 to the sales table.",
        sql="CREATE TABLE products (name TEXT);",
        check=rows_are("SELECT item, quantity FROM sales", [("pen", 3)]),
        solve=_record_sale,
    ),
    Task(
        id="rc_sql_bad_quotes",
        category="recovery",
        prompt='Update the books table so that the title of book 2 is "Dune". This didn\'t work for me: '
        "UPDATE books SET title = Dune WHERE id = 2",
        sql="CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT);"
        "INSERT INTO books VALUES (1, 'Emma'), (2, 'Dume'), (3, 'Ulysses');",
        check=rows_are("SELECT id, title FROM books", [(1, "Emma"), (2, "Dune"), (3, "Ulysses")]),
        solve=lambda ws: run_sql(ws, "UPDATE books SET title = 'Dune' WHERE id = 2;"),
    ),
)
