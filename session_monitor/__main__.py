"""``python -m session_monitor``: the same as the ``session-monitor`` command."""

import sys

from session_monitor.cli import main

sys.exit(main())
