"""The ``session-monitor`` command: one grammar for the desktop app and its subcommands (see :mod:`.cli`)."""
