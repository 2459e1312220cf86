"""Every task of the benchmark, as typed values (see `_task.Task`), grouped by category."""

from __future__ import annotations

import itertools

from benchmarks.tasks._failing import FAILING_TOOLS
from benchmarks.tasks._multi_step import MULTI_STEP
from benchmarks.tasks._one_step import ONE_STEP
from benchmarks.tasks._recovery import RECOVERY
from benchmarks.tasks._task import CATEGORIES, Category, Task

__all__ = ["CATEGORIES", "TASKS", "Category", "Task", "select"]

TASKS: tuple[Task, ...] = ONE_STEP + MULTI_STEP + FAILING_TOOLS + RECOVERY


def select(categories: set[str] | None = None, limit: int | None = None, ids: set[str] | None = None) -> list[Task]:
    """The tasks to run: by category and id, at most ``limit`` per category (the first ones, a stable subset).

    They come round-robin over the categories (the first of each, then the second ...), so a
    run cut short still covers every category evenly.
    """
    pools = [
        [t for t in TASKS if t.category == c and (not ids or t.id in ids)][:limit]
        for c in CATEGORIES
        if not categories or c in categories
    ]
    return [t for row in itertools.zip_longest(*pools) for t in row if t is not None]
