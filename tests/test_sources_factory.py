"""open_source: one text picks the demo, a Lean folder or CSV/Parquet files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_helpers import (
    CRYPTO_MINUTE,
    EQUITY_MINUTE,
    EQUITY_SECOND,
    LEAN_DAY,
    csv_rows,
    lean_lines,
    write_csv,
    write_lean_zip,
)

from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import SourceError
from session_monitor.core.sources.demo import DemoSource
from session_monitor.core.sources.factory import open_source
from session_monitor.core.sources.lean import LeanSource
from session_monitor.core.sources.tabular import TabularSource


def test_demo() -> None:
    assert isinstance(open_source("demo"), DemoSource)
    assert open_source(" Demo:42 ").key == "demo:42"
    assert isinstance(open_source("demo", base="1s"), DemoSource)
    with pytest.raises(SourceError, match="1s or 1m"):
        open_source("demo", base="5m")
    with pytest.raises(SourceError, match="seed"):
        open_source("demo:x")


@pytest.mark.parametrize("root", [EQUITY_MINUTE, EQUITY_SECOND, CRYPTO_MINUTE])
def test_lean_folders(root: Path) -> None:
    source = open_source(str(root))
    assert isinstance(source, LeanSource) and source.key == f"lean:{root.resolve()}"


def test_lean_base_must_match() -> None:
    assert isinstance(open_source(str(EQUITY_MINUTE), base="1m"), LeanSource)
    with pytest.raises(SourceError, match="serves 1m bars, not 1s"):
        open_source(str(EQUITY_MINUTE), base="1s")
    with pytest.raises(SourceError, match="unknown interval"):
        open_source(str(EQUITY_MINUTE), base="fast")


def test_lean_unsupported_resolution(tmp_path: Path) -> None:
    hour = tmp_path / "equity" / "usa" / "hour"
    hour.mkdir(parents=True)
    with pytest.raises(SourceError, match="not supported as a base"):
        open_source(str(hour))


def test_folder_of_ticker_zips_outside_the_layout(tmp_path: Path) -> None:
    write_lean_zip(tmp_path / "mydata", "SPY", LEAN_DAY, lean_lines())
    with pytest.raises(SourceError, match="not a Lean"):
        open_source(str(tmp_path / "mydata"))


def test_tabular(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "SPY.csv", csv_rows(3))
    source = open_source(str(path))
    assert isinstance(source, TabularSource) and source.base_intervals("SPY") == (Interval(60),)
    assert isinstance(open_source(str(tmp_path)), TabularSource)
    assert open_source(str(path), base="1s").base_intervals("SPY") == (Interval(1),)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"source path does not exist: .*nope"):
        open_source(str(tmp_path / "nope"))
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(SourceError, match="cannot tell what kind of source"):
        open_source(str(tmp_path / "readme.txt"))
    with pytest.raises(SourceError, match="cannot tell what kind of source"):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match="does not exist"):
        open_source("")
    for message in (str(e) for e in _errors(tmp_path)):
        assert "\n" not in message


def _errors(tmp_path: Path) -> list[SourceError]:
    found = []
    for spec in (str(tmp_path / "nope"), str(tmp_path), "demo:x"):
        try:
            open_source(spec)
        except SourceError as exc:
            found.append(exc)
    return found
