"""Check the result of the example task in examples/README.md.

Reads ``work/orders.db`` (table ``orders``) and ``work/totals.csv`` and compares
them with ``data/orders.csv``: every row must be in the table, and the totals
file must hold each customer's total. Amounts compare as numbers within 0.01;
customer names compare exactly (case-sensitive). Column names compare without
regard to case; totals.csv may have any header (or none) as long as each row
holds a customer and a number.

Usage: ``python examples/check.py [--work DIR] [--data CSV]``. Prints one
PASS/FAIL line per check and exits 0 if all pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.01


def _number(text: object) -> float | None:
    """Parse ``12.5``, ``"12.50"``, ``"$1,012.50"``; None if not a number."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    try:
        return float(str(text).strip().replace("$", "").replace(",", ""))
    except ValueError:
        return None


def expected_rows(data_csv: Path) -> dict[int, tuple[str, float]]:
    """Read the input's rows as {order_id: (customer, amount)}."""
    with data_csv.open(newline="") as f:
        return {int(r["order_id"]): (r["customer"], float(r["amount"])) for r in csv.DictReader(f)}


def expected_totals(rows: dict[int, tuple[str, float]]) -> dict[str, float]:
    """Each customer's total amount."""
    totals: dict[str, float] = defaultdict(float)
    for customer, amount in rows.values():
        totals[customer] += amount
    return dict(totals)


def check_db(db: Path, rows: dict[int, tuple[str, float]]) -> list[tuple[bool, str]]:
    """Check the ``orders`` table; each result is (passed, description)."""
    if not db.is_file():
        return [(False, f"{db} exists")]
    results: list[tuple[bool, str]] = [(True, f"{db} exists")]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        columns = [c[1].lower() for c in conn.execute("PRAGMA table_info(orders)")]
        if not columns:
            return [*results, (False, "table orders exists")]
        results.append((True, "table orders exists"))
        missing = {"order_id", "customer", "amount"} - set(columns)
        results.append(
            (not missing, f"columns order_id, customer, amount{f' (missing: {sorted(missing)})' if missing else ''}")
        )
        if missing:
            return results
        got = conn.execute("SELECT order_id, customer, amount FROM orders").fetchall()
    results.append((len(got) == len(rows), f"{len(rows)} rows (found {len(got)})"))
    by_id = {int(_number(i) or -1): (c, _number(a)) for i, c, a in got}
    for order_id, (customer, amount) in sorted(rows.items()):
        found = by_id.get(order_id)
        ok = found is not None and found[0] == customer and found[1] is not None and abs(found[1] - amount) <= TOLERANCE
        results.append((ok, f"row {order_id}: {customer} {amount:.2f}" + ("" if ok else f" (found {found})")))
    return results


def check_totals(totals_csv: Path, totals: dict[str, float]) -> list[tuple[bool, str]]:
    """Check ``totals.csv``; each result is (passed, description)."""
    if not totals_csv.is_file():
        return [(False, f"{totals_csv} exists")]
    got: dict[str, float] = {}
    with totals_csv.open(newline="") as f:
        for row in csv.reader(f):
            cells = [c.strip() for c in row if c.strip()]
            names = [c for c in cells if _number(c) is None]
            numbers = [n for c in cells if (n := _number(c)) is not None]
            if names and numbers and names[0] in totals:  # skips a header and stray lines
                got[names[0]] = numbers[-1]
    results: list[tuple[bool, str]] = [(True, f"{totals_csv} exists")]
    for customer, total in sorted(totals.items()):
        value = got.get(customer)
        ok = value is not None and abs(value - total) <= TOLERANCE
        results.append((ok, f"total for {customer} is {total:.2f}" + ("" if ok else f" (found {value})")))
    return results


def check(work: Path, data_csv: Path) -> list[tuple[bool, str]]:
    """Run every check; each result is (passed, description)."""
    rows = expected_rows(data_csv)
    return check_db(work / "orders.db", rows) + check_totals(work / "totals.csv", expected_totals(rows))


def main(argv: list[str] | None = None) -> int:
    """Print PASS/FAIL per check; return 0 if all passed, else 1."""
    parser = argparse.ArgumentParser(description="Check the result of the example task.")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="the task's working folder")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "orders.csv", help="the input CSV")
    args = parser.parse_args(argv)
    results = check(args.work, args.data)
    for ok, text in results:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    failed = sum(not ok for ok, _ in results)
    print(f"{len(results) - failed}/{len(results)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
