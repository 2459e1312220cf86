"""``python -m benchmarks.tasks``: run the task benchmark (see `benchmarks.tasks.run`)."""

import sys

from benchmarks.tasks.run import main

sys.exit(main())
