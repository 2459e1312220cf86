"""ToolCraft-shaped tasks: each needs a computation that no configured tool offers.

The filesystem server (read, write, list) carries the input and the output; the step in
between (a checksum, a format conversion, a statistic, a log parse, a date reformat) has
no tool, and its answer is one a 1.5B model cannot produce reliably by itself (digests,
sums of sixty numbers, sorted sets from a hundred log lines). Each task is judged by the
file it leaves (`benchmarks.tasks._task` checks), and carries a reference solution.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import random
import statistics
import zlib
from datetime import date, timedelta

from benchmarks.tasks._task import Check, Task, file_is, file_json, file_lines, file_number, write

__all__ = ["SYNTHESIS_TASKS"]

_rng = random.Random(20260728)  # fixed: the data, and so the expected answers, never change
_NOTES = "nexthop writes its own tools when none fits\nand runs them in a sandbox\n"
_NUMBERS = [round(_rng.uniform(1, 500), 2) for _ in range(60)]
_LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]
_LOG = [
    f"2026-07-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00 {_rng.choice(_LEVELS)} "
    f"10.0.{_rng.randint(0, 3)}.{_rng.randint(1, 9)} request {i}"
    for i in range(120)
]
_PEOPLE = [
    {"name": n, "age": 20 + 7 * i % 43, "city": c}
    for i, (n, c) in enumerate(
        [("Ana", "Lisbon"), ("Ben", "Leeds"), ("Chen", "Taipei"), ("Dara", "Cork"), ("Eli", "Oslo"), ("Fay", "Quito")]
    )
]
_SALES = [(f"item{i}", round(_rng.uniform(5, 90), 2)) for i in range(40)]
_DATES = [date(2020, 1, 1) + timedelta(days=_rng.randint(0, 2500)) for _ in range(12)]
_WORDS = _rng.sample(
    "pear apple fig kiwi mango lime plum date grape melon berry olive peach quince lemon cherry".split(), 16
)
_NUMS = [_rng.randint(2, 400) for _ in range(30)]


def _task(task_id: str, prompt: str, files: dict[str, str], out: str, expected: str, check: Check) -> Task:
    return Task(
        id=task_id,
        category="one_step",
        prompt=prompt,
        files=files,
        check=check,
        solve=lambda ws: write(ws, out, expected + "\n"),
    )


def _text(task_id: str, prompt: str, files: dict[str, str], out: str, expected: str) -> Task:
    return _task(task_id, prompt, files, out, expected, file_is(out, expected))


def _number(task_id: str, prompt: str, files: dict[str, str], out: str, value: float) -> Task:
    return _task(task_id, prompt, files, out, f"{value:.2f}", file_number(out, value))


def _lines(task_id: str, prompt: str, files: dict[str, str], out: str, lines: list[str]) -> Task:
    return _task(task_id, prompt, files, out, "\n".join(lines), file_lines(out, lines))


def _csv(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().strip()


def _roman(n: int) -> str:
    out = ""
    for value, letters in zip(
        (1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1),
        ("M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"),
        strict=True,
    ):
        count, n = divmod(n, value)
        out += letters * count
    return out


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


_numbers_file = {"numbers.txt": "\n".join(map(str, _NUMBERS)) + "\n"}
_log_file = {"app.log": "\n".join(_LOG) + "\n"}
_dates_file = {"dates.txt": "\n".join(d.strftime("%m/%d/%Y") for d in _DATES) + "\n"}
_people_file = {"people.json": json.dumps(_PEOPLE, indent=2) + "\n"}
_sales_file = {"sales.csv": _csv([["item", "amount"], *[[i, a] for i, a in _SALES]]) + "\n"}

SYNTHESIS_TASKS: tuple[Task, ...] = (
    _text(
        "sy_sha256",
        "Write the SHA-256 hex digest of the contents of notes.txt into digest.txt.",
        {"notes.txt": _NOTES},
        "digest.txt",
        hashlib.sha256(_NOTES.encode()).hexdigest(),
    ),
    _text(
        "sy_md5",
        "Write the MD5 hex digest of the contents of notes.txt into md5.txt.",
        {"notes.txt": _NOTES},
        "md5.txt",
        hashlib.md5(_NOTES.encode()).hexdigest(),
    ),
    _text(
        "sy_crc32",
        "Write the CRC-32 of the contents of notes.txt, as 8 lowercase hex digits, into crc.txt.",
        {"notes.txt": _NOTES},
        "crc.txt",
        f"{zlib.crc32(_NOTES.encode()):08x}",
    ),
    _text(
        "sy_base64",
        "Write the contents of notes.txt encoded in Base64 (one line) into notes.b64.",
        {"notes.txt": _NOTES},
        "notes.b64",
        base64.b64encode(_NOTES.encode()).decode(),
    ),
    _text(
        "sy_json_to_csv",
        "Convert people.json to CSV in people.csv with the header name,age,city.",
        _people_file,
        "people.csv",
        _csv([["name", "age", "city"], *[[p["name"], p["age"], p["city"]] for p in _PEOPLE]]),
    ),
    _task(
        "sy_csv_to_json",
        "Convert sales.csv to a JSON list of objects with keys item and amount (a number) in sales.json.",
        _sales_file,
        "sales.json",
        json.dumps([{"item": i, "amount": a} for i, a in _SALES]),
        file_json("sales.json", [{"item": i, "amount": a} for i, a in _SALES]),
    ),
    _number(
        "sy_sum_column",
        "Write the total of the amount column of sales.csv into total.txt.",
        _sales_file,
        "total.txt",
        round(sum(a for _, a in _SALES), 2),
    ),
    _number(
        "sy_median",
        "Write the median of the numbers in numbers.txt into median.txt.",
        _numbers_file,
        "median.txt",
        statistics.median(_NUMBERS),
    ),
    _number(
        "sy_stdev",
        "Write the population standard deviation of the numbers in numbers.txt, rounded to 2 decimals, into stdev.txt.",
        _numbers_file,
        "stdev.txt",
        round(statistics.pstdev(_NUMBERS), 2),
    ),
    _number(
        "sy_mean",
        "Write the mean of the numbers in numbers.txt, rounded to 2 decimals, into mean.txt.",
        _numbers_file,
        "mean.txt",
        round(statistics.fmean(_NUMBERS), 2),
    ),
    _number(
        "sy_count_errors",
        "Count the lines of app.log whose level is ERROR and write the count into errors.txt.",
        _log_file,
        "errors.txt",
        sum(" ERROR " in line for line in _LOG),
    ),
    _lines(
        "sy_unique_ips",
        "Write the distinct IP addresses that appear in app.log, sorted, one per line, into ips.txt.",
        _log_file,
        "ips.txt",
        sorted({line.split()[2] for line in _LOG}),
    ),
    _lines(
        "sy_level_counts",
        "Count the lines of app.log per level and write LEVEL,COUNT lines sorted by level into levels.txt.",
        _log_file,
        "levels.txt",
        [f"{lvl},{sum(line.split()[1] == lvl for line in _LOG)}" for lvl in sorted(_LEVELS)],
    ),
    _lines(
        "sy_iso_dates",
        "dates.txt holds dates as MM/DD/YYYY, one per line: write them as YYYY-MM-DD, in the same order, into iso.txt.",
        _dates_file,
        "iso.txt",
        [d.isoformat() for d in _DATES],
    ),
    _lines(
        "sy_weekdays",
        "For each date in dates.txt (MM/DD/YYYY) write its weekday name (Monday...), one per "
        "line in the same order, into weekdays.txt.",
        _dates_file,
        "weekdays.txt",
        [d.strftime("%A") for d in _DATES],
    ),
    _number(
        "sy_date_span",
        "Write the number of days between the earliest and the latest date in dates.txt (MM/DD/YYYY) into span.txt.",
        _dates_file,
        "span.txt",
        (max(_DATES) - min(_DATES)).days,
    ),
    _lines(
        "sy_sort_words",
        "Sort the words of words.txt alphabetically and write them one per line into sorted.txt.",
        {"words.txt": " ".join(_WORDS) + "\n"},
        "sorted.txt",
        sorted(_WORDS),
    ),
    _lines(
        "sy_primes",
        "Write the numbers of nums.txt that are prime, in the same order, one per line, into primes.txt.",
        {"nums.txt": "\n".join(map(str, _NUMS)) + "\n"},
        "primes.txt",
        [str(n) for n in _NUMS if _is_prime(n)],
    ),
    _lines(
        "sy_fahrenheit",
        "celsius.txt holds temperatures in Celsius, one per line: write each in Fahrenheit "
        "with one decimal, same order, into fahrenheit.txt.",
        {"celsius.txt": "\n".join(str(c) for c in _NUMS[:12]) + "\n"},
        "fahrenheit.txt",
        [f"{c * 9 / 5 + 32:.1f}" for c in _NUMS[:12]],
    ),
    _lines(
        "sy_roman",
        "Write each number of nums.txt as a Roman numeral, same order, one per line, into roman.txt.",
        {"nums.txt": "\n".join(map(str, _NUMS[:10])) + "\n"},
        "roman.txt",
        [_roman(n) for n in _NUMS[:10]],
    ),
    _number(
        "sy_word_count",
        "Count the words in notes.txt and write the count into words.txt.",
        {"notes.txt": _NOTES},
        "words.txt",
        len(_NOTES.split()),
    ),
    _lines(
        "sy_reverse_lines",
        "Write the lines of app.log in reverse order (last line first) into reversed.log.",
        {"app.log": "\n".join(_LOG[:25]) + "\n"},
        "reversed.log",
        _LOG[:25][::-1],
    ),
)
"""22 tasks; ids start with ``sy_``."""
