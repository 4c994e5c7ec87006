"""Pick the source a user's ``--source`` text means: ``demo``, ``alpaca``, ``bus:URL``, Lean, or CSV/Parquet."""

from __future__ import annotations

from pathlib import Path

from session_monitor.core.intervals import Interval, IntervalError, parse_interval
from session_monitor.core.sources.base import BarSource, SourceError
from session_monitor.core.sources.demo import ONE_MINUTE, ONE_SECOND, DemoSource
from session_monitor.core.sources.lean import RESOLUTIONS, SECURITIES, UNSUPPORTED_RESOLUTIONS, LeanSource
from session_monitor.core.sources.tabular import SUFFIXES, TabularSource

__all__ = ["open_source"]


def _looks_lean(path: Path) -> bool:
    """``<security>/<market>/<resolution>`` names, or ticker folders of ``*_trade.zip``."""
    parts = [p.lower() for p in path.parts]
    if len(parts) >= 3 and parts[-3] in SECURITIES and parts[-1] in (*RESOLUTIONS, *UNSUPPORTED_RESOLUTIONS):
        return True
    return any(child.is_dir() and next(child.glob("*_trade.zip"), None) is not None for child in path.iterdir())


def _parse_base(base: str | None) -> Interval | None:
    if base is None:
        return None
    try:
        return parse_interval(base)
    except IntervalError as exc:
        raise SourceError(str(exc)) from exc


def open_source(spec: str, base: str | None = None) -> BarSource:
    """The source for ``spec``; ``base`` (e.g. ``1m``) overrides a CSV's detected base
    and must be one the source serves otherwise. Raises :class:`SourceError` with a
    one-line reason when nothing usable is there.
    """
    wanted = _parse_base(base)
    text = spec.strip()
    kind, _, option = text.partition(":")
    if kind.lower() == "alpaca":
        return _open_alpaca(option, wanted)
    if kind.lower() == "bus":
        return _open_bus(option, wanted)
    if kind.lower() == "demo":
        return _open_demo(spec, option, wanted)
    path = Path(text).expanduser()
    if not text or not path.exists():
        raise SourceError(f"source path does not exist: {spec}")
    try:
        return _open_path(spec, path, wanted)
    except OSError as exc:
        raise SourceError(f"cannot read {spec}: {exc.strerror or exc}") from exc


def _open_alpaca(feed: str, wanted: Interval | None) -> BarSource:
    """``alpaca`` or ``alpaca:FEED`` (default ``iex``): live minute bars."""
    from session_monitor.core.sources.alpaca import open_alpaca

    if wanted is not None and wanted != ONE_MINUTE:
        raise SourceError(f"Alpaca streams 1m bars, not {wanted}")
    return open_alpaca(feed or "iex")


def _open_bus(url: str, wanted: Interval | None) -> BarSource:
    """``bus:redis://HOST:PORT/DB``: the base bars a feed gateway publishes there."""
    from session_monitor.core.sources.bus import BusSource

    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SourceError(f"bus: needs a Redis URL, e.g. bus:redis://127.0.0.1:6379/0 (got {url!r})")
    return BusSource(url, wanted)


def _open_demo(spec: str, seed_text: str, wanted: Interval | None) -> BarSource:
    """``demo`` or ``demo:SEED``: the generated feed, at a 1s or 1m base."""
    try:
        seed = int(seed_text) if seed_text else 0
    except ValueError as exc:
        raise SourceError(f"demo seed must be a whole number: {spec}") from exc
    if wanted is not None and wanted not in (ONE_SECOND, ONE_MINUTE):
        raise SourceError(f"the demo feed serves 1s or 1m base bars, not {wanted}")
    return DemoSource(seed=seed, base=wanted)


def _open_path(spec: str, path: Path, wanted: Interval | None) -> BarSource:
    """A Lean or tabular source for an existing path."""
    if path.is_file():
        if path.suffix.lower() in SUFFIXES:
            return TabularSource(path, base=wanted)
        raise SourceError(f"cannot tell what kind of source {spec} is (expected a .csv or .parquet file)")
    if _looks_lean(path.resolve()):
        source = LeanSource(path)
        if wanted is not None and wanted != source.layout.base:
            raise SourceError(f"Lean {source.layout.resolution} data serves {source.layout.base} bars, not {wanted}")
        return source
    if any(p.is_file() and p.suffix.lower() in SUFFIXES for p in path.iterdir()):
        return TabularSource(path, base=wanted)
    raise SourceError(
        f"cannot tell what kind of source {spec} is (expected demo, a Lean "
        "<security>/<market>/<resolution> folder, or .csv/.parquet files)"
    )
