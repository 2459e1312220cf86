"""``python -m nexthop.cli``: the same as the ``nexthop`` command."""

import sys

from nexthop.cli._app import main

sys.exit(main())
