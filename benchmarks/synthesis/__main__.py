"""``python -m benchmarks.synthesis``: run the synthesis benchmark (see `benchmarks.synthesis.run`)."""

import sys

from benchmarks.synthesis.run import main

sys.exit(main())
