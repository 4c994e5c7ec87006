"""Reconciliation of Session Monitor's derived bars against a vendor's bars (Qt-free)."""

from session_monitor.core.reconcile.compare import BarCheck, Cause, FieldDiff, SeriesReport, Status, reconcile_series
from session_monitor.core.reconcile.reference import ReferenceError, ReferenceSeries, load_reference
from session_monitor.core.reconcile.windows import Convention, Windows, derive_on, detect_convention, session_windows

__all__ = [
    "BarCheck",
    "Cause",
    "Convention",
    "FieldDiff",
    "ReferenceError",
    "ReferenceSeries",
    "SeriesReport",
    "Status",
    "Windows",
    "derive_on",
    "detect_convention",
    "load_reference",
    "reconcile_series",
    "session_windows",
]
