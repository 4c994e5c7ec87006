"""Icons, the screenshot and the default configuration shipped with Session Monitor."""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
