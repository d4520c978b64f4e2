"""``python -m perf_gate``, the same as the ``perf-gate`` command."""

import sys

from .cli import main

sys.exit(main())
