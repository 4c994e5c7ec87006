"""A row of the symbol tree dragged onto a chart of the workspace: the data both sides agree on.

The tree model packs the row it drags (``row_mime``, a symbol row standing for its base
interval) and a chart slot unpacks what is dropped on it (``dropped_row``); nothing else
knows the format.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from PySide6.QtCore import QByteArray, QMimeData

__all__ = ["ROW_MIME", "ChartRow", "dropped_row", "row_mime"]

#: the MIME type of a dragged tree row (JSON ``{"symbol": …, "interval": …}``)
ROW_MIME = "application/x-session-monitor-row"


class ChartRow(NamedTuple):
    """What a chart shows: a symbol and one of its intervals."""

    symbol: str
    interval: str


def row_mime(row: ChartRow) -> QMimeData:
    """The drag data of a tree row (also as text, ``SPY 5m``, for anything that takes text)."""
    mime = QMimeData()
    mime.setData(ROW_MIME, QByteArray(json.dumps(row._asdict()).encode()))
    mime.setText(f"{row.symbol} {row.interval}")
    return mime


def dropped_row(mime: QMimeData | None) -> ChartRow | None:
    """The row a drop carries; None for anything else (another app's text, a damaged payload)."""
    if mime is None or not mime.hasFormat(ROW_MIME):
        return None
    try:
        fields = json.loads(bytes(mime.data(ROW_MIME).data()).decode())
        row = ChartRow(str(fields["symbol"]), str(fields["interval"]))
    except (ValueError, KeyError, TypeError):
        return None
    return row if row.symbol and row.interval else None
