"""Multi-step tasks: 3-6 dependent calls, each needing what an earlier one returned."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.tasks._task import (
    Task,
    absent,
    all_of,
    file_is,
    file_json,
    file_lines,
    file_number,
    file_pairs,
    move,
    rows_are,
    run_sql,
    write,
)

__all__ = ["MULTI_STEP"]

_LOG = "09:00 INFO start\n09:02 ERROR disk full\n09:05 INFO retry\n09:07 ERROR timeout\n09:09 INFO done\n"
_ORDERS = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL);
INSERT INTO orders (customer, amount) VALUES
  ('Ana', 10), ('Ben', 5.5), ('Ana', 7), ('Chen', 12), ('Ben', 1), ('Ana', 2.25);
"""
_EMPLOYEES = """
CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT, department TEXT);
INSERT INTO employees (name, department) VALUES
  ('Zoe', 'Sales'), ('Mark', 'IT'), ('Alice', 'Sales'), ('Omar', 'Sales'), ('Ines', 'HR');
"""
_PRODUCTS = """
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL);
INSERT INTO products (name, price) VALUES ('pen', 1.2), ('binder', 4.5), ('chair', 89), ('lamp', 25);
"""
_TODO = "# Chores\n- [ ] water plants\n- [ ] take out bins\n- [x] wash car\n"


def _errors_then_archive(ws: Path) -> None:
    write(ws, "errors.txt", "09:02 ERROR disk full\n09:07 ERROR timeout\n")
    move(ws, "log.txt", "old/log.txt")


def _backup_then_tick(ws: Path) -> None:
    write(ws, "todo.bak.md", _TODO)
    write(ws, "todo.md", _TODO.replace("[ ] water", "[x] water"))


def _sort_downloads(ws: Path) -> None:
    for name in ("cat.jpg", "beach.jpg"):
        move(ws, f"downloads/{name}", f"downloads/images/{name}")
    move(ws, "downloads/invoice.pdf", "downloads/docs/invoice.pdf")


MULTI_STEP: tuple[Task, ...] = (
    Task(
        id="ms_errors_then_archive",
        category="multi_step",
        prompt="Copy only the ERROR lines of log.txt into errors.txt, then move log.txt into a new folder called old.",
        files={"log.txt": _LOG},
        check=all_of(
            file_lines("errors.txt", ["09:02 ERROR disk full", "09:07 ERROR timeout"]),
            file_is("old/log.txt", _LOG),
            absent("log.txt"),
        ),
        solve=_errors_then_archive,
    ),
    Task(
        id="ms_csv_to_table",
        category="multi_step",
        prompt="Load people.csv into a new database table called people with columns name and age.",
        files={"people.csv": "name,age\nAmira,34\nBo,27\nCarl,45\n"},
        check=rows_are("SELECT name, age FROM people", [("Amira", 34), ("Bo", 27), ("Carl", 45)]),
        solve=lambda ws: run_sql(
            ws,
            "CREATE TABLE people (name TEXT, age INTEGER);"
            "INSERT INTO people VALUES ('Amira', 34), ('Bo', 27), ('Carl', 45);",
        ),
    ),
    Task(
        id="ms_orders_per_customer",
        category="multi_step",
        prompt="How many orders does each customer have? Put the answer in counts.csv, one customer,count per line.",
        sql=_ORDERS,
        check=file_pairs("counts.csv", {"Ana": 3, "Ben": 2, "Chen": 1}),
        solve=lambda ws: write(ws, "counts.csv", "customer,count\nAna,3\nBen,2\nChen,1\n"),
    ),
    Task(
        id="ms_count_inbox",
        category="multi_step",
        prompt="Count the .txt files in the inbox folder and write just that number to count.txt.",
        files={
            "inbox/a.txt": "a",
            "inbox/b.txt": "b",
            "inbox/c.md": "c",
            "inbox/d.txt": "d",
            "inbox/e.csv": "e",
        },
        check=file_number("count.txt", 3),
        solve=lambda ws: write(ws, "count.txt", "3\n"),
    ),
    Task(
        id="ms_merge_parts",
        category="multi_step",
        prompt="Join part1.txt and part2.txt, in that order, into full.txt.",
        files={
            "part1.txt": "It was a bright cold day in April,\n",
            "part2.txt": "and the clocks were striking thirteen.\n",
        },
        check=file_lines("full.txt", ["It was a bright cold day in April,", "and the clocks were striking thirteen."]),
        solve=lambda ws: write(
            ws, "full.txt", "It was a bright cold day in April,\nand the clocks were striking thirteen.\n"
        ),
    ),
    Task(
        id="ms_sales_names",
        category="multi_step",
        prompt="Write the names of everyone in the Sales department to sales.txt, sorted by name, one per line.",
        sql=_EMPLOYEES,
        check=file_lines("sales.txt", ["Alice", "Omar", "Zoe"]),
        solve=lambda ws: write(ws, "sales.txt", "Alice\nOmar\nZoe\n"),
    ),
    Task(
        id="ms_priciest_product",
        category="multi_step",
        prompt="Which product in the products table costs the most? Write its name to priciest.txt.",
        sql=_PRODUCTS,
        check=file_is("priciest.txt", "chair"),
        solve=lambda ws: write(ws, "priciest.txt", "chair\n"),
    ),
    Task(
        id="ms_backup_then_tick",
        category="multi_step",
        prompt="Back up todo.md as todo.bak.md, then tick off 'water plants' in todo.md (change its [ ] to [x]).",
        files={"todo.md": _TODO},
        check=all_of(
            file_is("todo.bak.md", _TODO),
            file_is("todo.md", _TODO.replace("[ ] water", "[x] water")),
        ),
        solve=_backup_then_tick,
    ),
    Task(
        id="ms_apply_price_list",
        category="multi_step",
        prompt="new_prices.txt has the new prices as name=price lines. Update the products table to match.",
        files={"new_prices.txt": "pen=1.5\nlamp=22\n"},
        sql=_PRODUCTS,
        check=rows_are(
            "SELECT name, price FROM products", [("pen", 1.5), ("binder", 4.5), ("chair", 89), ("lamp", 22)]
        ),
        solve=lambda ws: run_sql(
            ws,
            "UPDATE products SET price = 1.5 WHERE name = 'pen'; UPDATE products SET price = 22 WHERE name = 'lamp';",
        ),
    ),
    Task(
        id="ms_sort_downloads",
        category="multi_step",
        prompt="Tidy up downloads: move the .jpg files into downloads/images and the .pdf files into downloads/docs.",
        files={"downloads/cat.jpg": "jpg1", "downloads/beach.jpg": "jpg2", "downloads/invoice.pdf": "pdf1"},
        check=all_of(
            file_is("downloads/images/cat.jpg", "jpg1"),
            file_is("downloads/images/beach.jpg", "jpg2"),
            file_is("downloads/docs/invoice.pdf", "pdf1"),
            absent("downloads/cat.jpg"),
            absent("downloads/beach.jpg"),
            absent("downloads/invoice.pdf"),
        ),
        solve=_sort_downloads,
    ),
    Task(
        id="ms_expense_total",
        category="multi_step",
        prompt=(
            "Add up the amounts in expenses.csv and store the total in a new table summary (label, total) "
            "as a single row with the label expenses."
        ),
        files={"expenses.csv": "item,amount\ntaxi,23.50\nlunch,12.25\nhotel,110.00\nbus,2.75\n"},
        check=rows_are("SELECT label, total FROM summary", [("expenses", 148.5)]),
        solve=lambda ws: run_sql(
            ws, "CREATE TABLE summary (label TEXT, total REAL); INSERT INTO summary VALUES ('expenses', 148.5);"
        ),
    ),
    Task(
        id="ms_settings_to_json",
        category="multi_step",
        prompt="Export the settings table to settings.json as one JSON object mapping each key to its value.",
        sql="CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO settings VALUES ('theme', 'light'), ('language', 'fr'), ('timezone', 'Europe/Paris');",
        check=file_json("settings.json", {"theme": "light", "language": "fr", "timezone": "Europe/Paris"}),
        solve=lambda ws: write(
            ws, "settings.json", json.dumps({"theme": "light", "language": "fr", "timezone": "Europe/Paris"})
        ),
    ),
)
