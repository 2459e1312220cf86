"""One-step tasks: one tool call does the work (Autono's first category)."""

from __future__ import annotations

import json

from benchmarks.tasks._task import (
    Task,
    absent,
    all_of,
    file_contains,
    file_is,
    file_json,
    file_lines,
    is_dir,
    move,
    rows_are,
    run_sql,
    table_absent,
    table_has_columns,
    write,
)

__all__ = ["ONE_STEP"]

_PRODUCTS = """
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL);
INSERT INTO products (name, price) VALUES ('Notebook', 3.5), ('Stapler', 7.25);
"""
_CUSTOMERS = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT);
INSERT INTO customers VALUES (1, 'Ana', 'Lisbon'), (2, 'Ben', 'Leeds'), (3, 'Chen', 'Taipei'), (4, 'Dara', 'Cork');
"""
_ORDERS = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, status TEXT);
INSERT INTO orders VALUES (1, 'kettle', 'shipped'), (2, 'toaster', 'pending'), (3, 'mug', 'pending');
"""
_CONFIG = "[server]\nhost = localhost\nport = 8080\n"

ONE_STEP: tuple[Task, ...] = (
    Task(
        id="os_write_greeting",
        category="one_step",
        prompt="Create a file called greeting.txt that says exactly: Hello from nexthop",
        check=file_is("greeting.txt", "Hello from nexthop"),
        solve=lambda ws: write(ws, "greeting.txt", "Hello from nexthop\n"),
    ),
    Task(
        id="os_make_folder",
        category="one_step",
        prompt="Make a new folder named archive.",
        check=is_dir("archive"),
        solve=lambda ws: (ws / "archive").mkdir(),
    ),
    Task(
        id="os_rename_file",
        category="one_step",
        prompt="Rename draft.txt to final.txt.",
        files={"draft.txt": "The quarterly plan, version 3.\n"},
        check=all_of(file_is("final.txt", "The quarterly plan, version 3."), absent("draft.txt")),
        solve=lambda ws: move(ws, "draft.txt", "final.txt"),
    ),
    Task(
        id="os_move_into_folder",
        category="one_step",
        prompt="Put report.md into the docs folder.",
        files={"report.md": "# Report\n\nAll good.\n", "docs/index.md": "# Docs\n"},
        check=all_of(file_contains("docs/report.md", "All good."), absent("report.md")),
        solve=lambda ws: move(ws, "report.md", "docs/report.md"),
    ),
    Task(
        id="os_edit_port",
        category="one_step",
        prompt="In config.ini, replace the line `port = 8080` with `port = 9090`.",
        files={"config.ini": _CONFIG},
        check=file_is("config.ini", _CONFIG.replace("8080", "9090")),
        solve=lambda ws: write(ws, "config.ini", _CONFIG.replace("8080", "9090")),
    ),
    Task(
        id="os_write_json",
        category="one_step",
        prompt='Save a settings.json file with this content: {"theme": "dark", "font_size": 14}',
        check=file_json("settings.json", {"theme": "dark", "font_size": 14}),
        solve=lambda ws: write(ws, "settings.json", json.dumps({"theme": "dark", "font_size": 14})),
    ),
    Task(
        id="os_write_todo",
        category="one_step",
        prompt="Write a todo.txt with three lines: buy milk, call mom, pay rent.",
        check=file_lines("todo.txt", ["buy milk", "call mom", "pay rent"]),
        solve=lambda ws: write(ws, "todo.txt", "buy milk\ncall mom\npay rent\n"),
    ),
    Task(
        id="os_create_table",
        category="one_step",
        prompt="In the database, create a table contacts with two text columns, name and email.",
        check=all_of(table_has_columns("contacts", ["name", "email"]), rows_are("SELECT * FROM contacts", [])),
        solve=lambda ws: run_sql(ws, "CREATE TABLE contacts (name TEXT, email TEXT);"),
    ),
    Task(
        id="os_insert_product",
        category="one_step",
        prompt="Add a product called Desk Lamp, priced 24.99, to the products table.",
        sql=_PRODUCTS,
        check=rows_are(
            "SELECT name, price FROM products", [("Notebook", 3.5), ("Stapler", 7.25), ("Desk Lamp", 24.99)]
        ),
        solve=lambda ws: run_sql(ws, "INSERT INTO products (name, price) VALUES ('Desk Lamp', 24.99);"),
    ),
    Task(
        id="os_delete_customer",
        category="one_step",
        prompt="Remove the customer with id 3 from the customers table.",
        sql=_CUSTOMERS,
        check=rows_are("SELECT id FROM customers", [(1,), (2,), (4,)]),
        solve=lambda ws: run_sql(ws, "DELETE FROM customers WHERE id = 3;"),
    ),
    Task(
        id="os_update_status",
        category="one_step",
        prompt="Order 2 has shipped: set its status to shipped in the orders table.",
        sql=_ORDERS,
        check=rows_are("SELECT id, status FROM orders", [(1, "shipped"), (2, "shipped"), (3, "pending")]),
        solve=lambda ws: run_sql(ws, "UPDATE orders SET status = 'shipped' WHERE id = 2;"),
    ),
    Task(
        id="os_drop_table",
        category="one_step",
        prompt="Drop the temp_import table from the database; we don't need it any more.",
        sql=_ORDERS + "CREATE TABLE temp_import (line TEXT); INSERT INTO temp_import VALUES ('x');",
        check=all_of(table_absent("temp_import"), rows_are("SELECT count(*) FROM orders", [(3,)])),
        solve=lambda ws: run_sql(ws, "DROP TABLE temp_import;"),
    ),
)
