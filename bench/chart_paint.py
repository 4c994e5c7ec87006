"""4. Chart paint: append one bar and repaint, Session Monitor's CandleItem against pyqtgraph's example item.

Session Monitor: ``gui.chart.items.CandleItem`` over a ``gui.chart.data.ChartData`` of one
symbol streaming 1s bars into a real ``SessionData`` (N candles loaded, then one more bar
per step through ``SessionData.add_base_bars``, the live scalar path). One step is what
``IntervalChart.apply_change`` does for the candles: ``ChartData.refresh``,
``CandleItem.data_changed``, the view following the new bar, then the repaint. The item
paints only the exposed range, as candles while they are at least 2 px wide, reduced to one
high-low stroke per pixel column when they are thinner.

Reference: pyqtgraph's documented candlestick item (``examples/customGraphicsItem.py``,
copied below as ``ReferenceCandles``): ``generatePicture`` records ONE ``QPicture`` of
all candles, ``paint`` replays it. On a data change the example has nothing but to record
the picture again, followed by pyqtgraph's usual item sequence (``prepareGeometryChange``,
``informViewBoundsChanged``, ``update``). Having no ``dataBounds``, it auto-ranges y over
all its candles (the picture's bounding rect), as the example does.

Method, identical for both sides: each item sits alone in a pyqtgraph ``ViewBox`` in a
``GraphicsView`` of 1200×600 shown offscreen, x following the newest ~120 bars, y
auto-ranging on what is visible; one step ends with ``QWidget.render`` of the view into a
1200×600 ``QImage``: the real ``paintEvent`` path (pyqtgraph's ``prepareForPaint``, the
ViewBox auto-range, the scene traversal, each item's ``exposedRect``).
``QGraphicsView.render(painter)`` is not used: it hands items an exposedRect that ignores
their own transform, so a visible-range item would paint everything. Axes and grid are
left out: they are pyqtgraph ``AxisItem`` pictures, the same cost whichever item draws
the candles. The views are set to ``NoViewportUpdate`` once shown, so only the timed
render paints. Steps alternate between the two sides (A B, B A, …), Qt's posted events are
handled between steps, untimed; medians. Each image is checked for painted candles, and
the CandleItem for how many bars it drew.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import Row, log, median, ratio
from bench.data import random_walk

__all__ = ["ROWS", "run"]

SIZES = (1_000, 10_000, 100_000)
IMAGE = (1200, 600)
#: bars in view while following the newest one (IntervalChart.DEFAULT_BARS + its right margin)
VIEW_BARS = 120
MARGIN_BARS = 2
TARGET_APPEND_MS = 5.0
TARGET_GROWTH = 1.5
TARGET_ALL_MS = 20.0

ROW_APPEND = {n: f"chart append+repaint, {n // 1000}k candles" for n in SIZES}
ROW_ALL = f"chart repaint, all {SIZES[-1] // 1000}k candles visible"
ROW_FOUR = {n: f"chart append+repaint, 4 charts open, {n // 1000}k candles each" for n in SIZES}
ROW_WORKSPACE = {n: f"chart workspace 2x2 (whole charts) append+repaint, {n // 1000}k candles each" for n in SIZES}
#: the workspace as rendered: a 2×2 of full charts (axes, grid, readout, overlays) in this size
WORKSPACE_SIZE = (1600, 1000)
ROWS = (*ROW_APPEND.values(), ROW_ALL, *ROW_FOUR.values(), *ROW_WORKSPACE.values())

_OPEN = 1_451_313_000  # 2015-12-28 09:30 New York


def _qt_app() -> Any:
    """The process's QApplication (offscreen), created on first use."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QT_API"] = "pyside6"
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["session-monitor-bench"])


# -- the reference: pyqtgraph's examples/customGraphicsItem.py ---------------------------------------
@functools.cache
def _reference_class() -> type:
    import pyqtgraph as pg
    from pyqtgraph import QtCore, QtGui

    class ReferenceCandles(pg.GraphicsObject):
        """pyqtgraph's example CandlestickItem, verbatim, plus the data change the example implies."""

        def __init__(self, data: list[tuple[float, float, float, float, float]]) -> None:
            pg.GraphicsObject.__init__(self)
            self.data = data  ## data must have fields: time, open, close, min, max
            self.generatePicture()

        def generatePicture(self) -> None:
            ## pre-computing a QPicture object allows paint() to run much more quickly,
            ## rather than re-drawing the shapes every time.
            self.picture = QtGui.QPicture()
            p = QtGui.QPainter(self.picture)
            p.setPen(pg.mkPen("w"))
            w = (self.data[1][0] - self.data[0][0]) / 3.0
            for t, open, close, min, max in self.data:  # the example's names
                p.drawLine(QtCore.QPointF(t, min), QtCore.QPointF(t, max))
                if open > close:
                    p.setBrush(pg.mkBrush("r"))
                else:
                    p.setBrush(pg.mkBrush("g"))
                p.drawRect(QtCore.QRectF(t - w, open, w * 2, close - open))
            p.end()

        def paint(self, p: Any, *args: Any) -> None:
            p.drawPicture(0, 0, self.picture)

        def boundingRect(self) -> Any:
            ## boundingRect _must_ indicate the entire area that will be drawn on
            ## or else we will get artifacts and possibly crashing.
            ## (in this case, QPicture does all the work of computing the bouning rect for us)
            return QtCore.QRectF(self.picture.boundingRect())

        # -- not in the example: a new bar means recording the whole picture again ----------
        def append(self, bar: tuple[float, float, float, float, float]) -> None:
            self.data.append(bar)
            self.generatePicture()
            self.prepareGeometryChange()
            self.informViewBoundsChanged()
            self.update()

    return ReferenceCandles


# -- hosts ------------------------------------------------------------------------------------------
class _Host:
    """One item alone in a ViewBox in a 1200×600 GraphicsView; ``render()`` paints the scene into an image."""

    def __init__(self, item: Any) -> None:
        import pyqtgraph as pg
        from PySide6.QtGui import QImage
        from PySide6.QtWidgets import QGraphicsView

        from session_monitor.gui import theme

        self.item = item
        self.view = pg.GraphicsView(background=theme.BACKGROUND)
        self.box = pg.ViewBox()
        self.view.setCentralItem(self.box)
        self.box.addItem(item)
        # as IntervalChart styles its plots: x is driven by the chart, y auto-ranges on what is visible
        self.box.setMouseEnabled(x=True, y=False)
        self.box.enableAutoRange(axis=pg.ViewBox.YAxis, enable=True)
        self.box.setAutoVisible(y=True)
        self.box.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        self.view.resize(*IMAGE)
        self.view.show()
        _qt_app().processEvents()
        # only render() paints from here on: the window itself never repaints behind the timer's
        # back (QWidget.render still runs the full paintEvent; setUpdatesEnabled(False) would not)
        self.view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.NoViewportUpdate)
        self.image = QImage(*IMAGE, QImage.Format.Format_RGB32)
        self._background = theme.BACKGROUND.rgb() & 0xFFFFFF

    def set_x(self, x0: float, x1: float) -> None:
        self.box.setXRange(x0, x1, padding=0)

    def shift_x(self, dx: float) -> None:
        (x0, x1), _ = self.box.viewRange()
        self.box.setXRange(x0 + dx, x1 + dx, padding=0)

    def render(self) -> None:
        from PySide6.QtWidgets import QWidget

        QWidget.render(self.view, self.image)

    def painted_pixels(self) -> int:
        pixels = np.frombuffer(self.image.constBits(), np.uint32, count=IMAGE[0] * IMAGE[1])
        return int(np.count_nonzero((pixels & 0xFFFFFF) != self._background))

    def close(self) -> None:
        self.view.close()
        self.view.deleteLater()


class _Ours:
    """Session Monitor's chart path for the candles of one symbol."""

    def __init__(self, n: int, bars: Any) -> None:
        from session_monitor.core.calendar import Session
        from session_monitor.core.intervals import Interval
        from session_monitor.core.session_data import SessionData, SymbolSessionData
        from session_monitor.gui.chart.data import ChartData
        from session_monitor.gui.chart.items import CandleItem

        self.bars = bars
        total = len(bars.ts)
        session = Session(dt.date(2015, 12, 28), _OPEN, _OPEN + total + 60, tz="America/New_York")
        self.session_data = SessionData()
        self.session_data.start_session(session)
        data = SymbolSessionData.create("BIG", Interval(1), [], session)
        self.session_data.register_symbol_data(data)
        self.session_data.add_base_bars("BIG", bars.take(slice(0, n)))
        self.chart = ChartData(data, "1s")
        self.candles = CandleItem(self.chart)
        self.host = _Host(self.candles)
        self.next = n
        end = float(self.chart.last_end or _OPEN)
        self.host.set_x(end + MARGIN_BARS - VIEW_BARS, end + MARGIN_BARS)

    def append_and_repaint(self) -> None:
        k = self.next
        self.next += 1
        if self.session_data.add_base_bars("BIG", self.bars.take(slice(k, k + 1))) != 1:
            raise RuntimeError("the appended bar was not stored")
        self.chart.refresh()
        self.candles.data_changed(k)
        self.host.shift_x(1.0)  # pinned to the newest bar: follow it
        self.host.render()


class _FourCharts(_Ours):
    """Four charts open on one symbol (a 2×2 workspace): one new bar, then every chart updates and repaints."""

    def __init__(self, n: int, bars: Any) -> None:
        from session_monitor.gui.chart.data import ChartData
        from session_monitor.gui.chart.items import CandleItem

        super().__init__(n, bars)
        data = self.chart.symbol_data
        self.others = []
        for _ in range(3):
            chart = ChartData(data, "1s")
            candles = CandleItem(chart)
            host = _Host(candles)
            end = float(chart.last_end or _OPEN)
            host.set_x(end + MARGIN_BARS - VIEW_BARS, end + MARGIN_BARS)
            self.others.append((chart, candles, host))

    def append_and_repaint(self) -> None:
        k = self.next
        super().append_and_repaint()
        for chart, candles, host in self.others:
            chart.refresh()
            candles.data_changed(k)
            host.shift_x(1.0)
            host.render()

    def close(self) -> None:
        self.host.close()
        for _, _, host in self.others:
            host.close()


class _Reference:
    """The example item over the same bars, fed the same way."""

    def __init__(self, n: int, bars: Any) -> None:
        # the example's fields: (time, open, close, min, max), time at the candle's centre
        self.rows = list(
            zip(
                (bars.ts + 0.5).tolist(),
                bars.open.tolist(),
                bars.close.tolist(),
                bars.low.tolist(),
                bars.high.tolist(),
                strict=True,
            )
        )
        self.item = _reference_class()(self.rows[:n])
        self.host = _Host(self.item)
        self.next = n
        end = float(bars.ts[n - 1]) + 1.0
        self.host.set_x(end + MARGIN_BARS - VIEW_BARS, end + MARGIN_BARS)

    def append_and_repaint(self) -> None:
        self.item.append(self.rows[self.next])
        self.next += 1
        self.host.shift_x(1.0)
        self.host.render()


def _alternate(jobs: dict[str, Callable[[], object]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """bench.interleave, with Qt's posted events handled between steps (untimed)."""
    app = _qt_app()
    names = list(jobs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            jobs[name]()
            elapsed = time.perf_counter() - start
            app.processEvents()
            if r >= warmup:
                times[name].append(elapsed)
    return times


def _check_painted(host: _Host, what: str) -> None:
    # a 120-candle view covers a good part of the plot; an empty or collapsed chart does not
    if host.painted_pixels() < 2_000:
        raise AssertionError(f"{what}: the rendered image shows (almost) no candles")


def _rounds(n: int, quick: bool) -> tuple[int, int]:
    """(timed rounds, warm-up rounds): the reference's step grows with n (~35 µs a candle here)."""
    if quick:
        return (9, 1)
    return {1_000: (41, 3), 10_000: (21, 2)}.get(n, (7, 1))


def _with_reference(n: int, quick: bool) -> bool:
    """--quick skips the reference at 100k: one of its steps takes seconds."""
    return not quick or n <= 10_000


_METHOD = (
    f"QWidget.render of a {IMAGE[0]}×{IMAGE[1]} GraphicsView (the item alone in a ViewBox, axes excluded) "
    f"into a QImage, both sides"
)


def run(quick: bool) -> list[Row]:
    _qt_app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False)
    rows: list[Row] = []
    ours_ms: dict[int, float] = {}
    hosts: list[_Host] = []
    ours: _Ours | None = None
    ref: _Reference | None = None
    for n in SIZES:
        for host in hosts:
            host.close()
        rounds, warmup = _rounds(n, quick)
        ts = _OPEN + np.arange(n + warmup + rounds + 1, dtype=np.int64)
        bars = random_walk(ts, seed=4)
        ours = _Ours(n, bars)
        ref = _Reference(n, bars) if _with_reference(n, quick) else None
        hosts = [ours.host] + ([ref.host] if ref is not None else [])
        jobs: dict[str, Callable[[], object]] = {"ours": ours.append_and_repaint}
        if ref is not None:
            jobs["reference"] = ref.append_and_repaint
        times = _alternate(jobs, rounds, warmup)
        for host, what in zip(hosts, ("Session Monitor", "reference"), strict=False):
            _check_painted(host, what)
        drawn, reduced = ours.candles.last_paint
        if reduced or not VIEW_BARS - 5 <= drawn <= VIEW_BARS + 5:
            raise AssertionError(f"CandleItem painted {drawn} bars (reduced={reduced}); expected the ~120 in view")
        mine = 1000 * median(times["ours"])
        theirs = 1000 * median(times["reference"]) if ref is not None else None
        ours_ms[n] = mine
        log(f"  {n:>7,} candles: append+repaint {mine:.2f} ms vs reference "
            + (f"{theirs:.1f} ms" if theirs is not None else "skipped"))
        target = f"≤ {TARGET_APPEND_MS:.0f} ms"
        met = mine <= TARGET_APPEND_MS
        extra = ""
        if n == SIZES[-1]:
            growth = mine / ours_ms[SIZES[0]]
            target += f", ≤ {TARGET_GROWTH}× {SIZES[0] // 1000}k"
            met = met and growth <= TARGET_GROWTH
            extra = f"; {growth:.2f}× the {SIZES[0] // 1000}k figure"
        if ref is None:
            extra += "; reference skipped in --quick (seconds per step)"
        rows.append(
            Row(
                ROW_APPEND[n],
                mine,
                theirs,
                "ms",
                ratio(mine, theirs),
                target,
                met,
                f"{n:,} 1s candles + {rounds} appended, ~{VIEW_BARS} in view; one step = add_base_bars + "
                f"ChartData.refresh + CandleItem.data_changed + x follows + {_METHOD}; ref: pyqtgraph "
                f"examples/customGraphicsItem.py (one QPicture of all candles, re-recorded per change); "
                f"median of {rounds}{extra}",
                better="lower",
            )
        )

    # every candle on screen: ours reduces to pixel columns, the reference replays its picture
    assert ours is not None
    first, end = float(ours.bars.ts[0]), float(ours.chart.last_end or 0.0)
    jobs = {"ours": ours.host.render}
    if ref is not None:
        jobs["reference"] = ref.host.render
    rounds = 7 if quick else 21
    for host in hosts:
        host.set_x(first, end)
    times = _alternate(jobs, rounds, warmup=2)
    drawn, reduced = ours.candles.last_paint
    if not reduced or drawn > IMAGE[0] + 2:
        raise AssertionError(f"all candles visible: CandleItem painted {drawn} bars (reduced={reduced})")
    for host, what in zip(hosts, ("Session Monitor (all visible)", "reference (all visible)"), strict=False):
        _check_painted(host, what)
    mine = 1000 * median(times["ours"])
    theirs = 1000 * median(times["reference"]) if ref is not None else None
    log(f"  all {len(ours.chart):,} visible: repaint {mine:.2f} ms vs reference "
        + (f"{theirs:.1f} ms" if theirs is not None else "skipped"))
    rows.append(
        Row(
            ROW_ALL,
            mine,
            theirs,
            "ms",
            ratio(mine, theirs),
            f"≤ {TARGET_ALL_MS:.0f} ms",
            mine <= TARGET_ALL_MS,
            f"{len(ours.chart):,} candles across {IMAGE[0]} px, no data change: ours reduced to {drawn} pixel "
            f"columns (high-low strokes), ref replays its QPicture of every candle; {_METHOD}; median of {rounds}"
            + ("; reference skipped in --quick" if ref is None else ""),
            better="lower",
        )
    )
    for host in hosts:
        host.close()
    _qt_app().processEvents()
    rows += _four_charts(quick)
    rows += _workspace(quick)
    return rows


def _four_charts(quick: bool) -> list[Row]:
    """Informative: the append+repaint step with four charts open (each repaints its ~120 candles)."""
    rows: list[Row] = []
    for n in SIZES:
        rounds, warmup = _rounds(n, quick)
        ts = _OPEN + np.arange(n + warmup + rounds + 1, dtype=np.int64)
        four = _FourCharts(n, random_walk(ts, seed=4))
        times = _alternate({"ours": four.append_and_repaint}, rounds, warmup)
        for host in (four.host, *(h for _, _, h in four.others)):
            _check_painted(host, "Session Monitor (four charts)")
        mine = 1000 * median(times["ours"])
        log(f"  {n:>7,} candles, four charts: append+repaint {mine:.2f} ms")
        rows.append(Row(ROW_FOUR[n], mine, None, "ms", None, "—", None,
                        f"one new 1s bar, then four charts of {n:,} candles each (~{VIEW_BARS} in view) refresh, "
                        f"follow and repaint (4 × {_METHOD.split(', both')[0]}); median of {rounds}",
                        better="lower"))
        four.close()
        _qt_app().processEvents()
    return rows


class _Workspace:
    """The app's own chart workspace, 2×2, four whole ``IntervalChart`` of one symbol's 1s bars with
    window boundaries on (1m and 5m edges) and a base bar selected (its outline on every chart):
    one new bar, then what ``ChartWorkspace.flush`` does for it (each chart's ``apply_change``),
    then ``QWidget.render`` of the whole workspace (axes, grid, readouts and overlays included)."""

    def __init__(self, n: int, bars: Any) -> None:
        from PySide6.QtGui import QImage

        from session_monitor.core.calendar import Session
        from session_monitor.core.intervals import Interval
        from session_monitor.core.session_data import SessionData, SymbolSessionData
        from session_monitor.gui.bridge import SessionBridge
        from session_monitor.gui.chart.workspace import ChartWorkspace

        self.bars = bars
        session = Session(dt.date(2015, 12, 28), _OPEN, _OPEN + len(bars.ts) + 60, tz="America/New_York")
        self.session_data = SessionData()
        self.session_data.start_session(session)
        self.symbol = SymbolSessionData.create("BIG", Interval(1), [Interval(60), Interval(300)], session)
        self.session_data.register_symbol_data(self.symbol)
        self.session_data.add_base_bars("BIG", bars.take(slice(0, n)))
        self.workspace = ChartWorkspace(self.session_data, SessionBridge(self.session_data))
        self.workspace.set_layout("2x2")
        for slot in self.workspace.slots:
            slot.show_chart("BIG", "1s")
        self.workspace.relink()
        self.workspace.set_window_lines(True)
        self.workspace.resize(*WORKSPACE_SIZE)
        self.workspace.show()
        self.workspace.selection.select(self.symbol, float(bars.ts[n - 30]))
        _qt_app().processEvents()
        self.image = QImage(*WORKSPACE_SIZE, QImage.Format.Format_RGB32)
        self.next = n

    def append_and_repaint(self) -> None:
        from PySide6.QtWidgets import QWidget

        k = self.next
        self.next += 1
        if self.session_data.add_base_bars("BIG", self.bars.take(slice(k, k + 1))) != 1:
            raise RuntimeError("the appended bar was not stored")
        for chart in self.workspace.charts:
            chart.apply_change(k)
        QWidget.render(self.workspace, self.image)

    def check(self) -> None:
        """Every chart painted its ~120 candles, drew its boundaries and the selected bar's outline."""
        charts = self.workspace.charts
        if len(charts) != 4:
            raise AssertionError(f"the workspace shows {len(charts)} charts, not 4")
        for chart in charts:
            drawn, reduced = chart.candles.last_paint
            if reduced or not VIEW_BARS - 5 <= drawn <= VIEW_BARS + 5:
                raise AssertionError(f"a workspace chart painted {drawn} bars (reduced={reduced})")
            if set(chart.window_lines.shown_xs()) != {"1m", "5m"} or chart.held.window is None:
                raise AssertionError("a workspace chart lacks its window boundaries or the selected bar's outline")

    def close(self) -> None:
        self.workspace.close()
        self.workspace.deleteLater()


def _workspace(quick: bool) -> list[Row]:
    """Informative: the same step in the app's 2×2 chart workspace, whole charts rendered."""
    rows: list[Row] = []
    for n in SIZES:
        rounds, warmup = _rounds(n, quick)
        ts = _OPEN + np.arange(n + warmup + rounds + 1, dtype=np.int64)
        workspace = _Workspace(n, random_walk(ts, seed=4))
        times = _alternate({"ours": workspace.append_and_repaint}, rounds, warmup)
        workspace.check()
        mine = 1000 * median(times["ours"])
        log(f"  {n:>7,} candles, 2x2 workspace: append+repaint {mine:.2f} ms")
        rows.append(Row(ROW_WORKSPACE[n], mine, None, "ms", None, "—", None,
                        f"ChartWorkspace 2x2 of four IntervalChart (1s, {n:,} candles each, ~{VIEW_BARS} in view, "
                        f"window boundaries of 1m and 5m on, a base bar selected); one step = add_base_bars + "
                        f"apply_change on each chart + QWidget.render of the whole {WORKSPACE_SIZE[0]}×"
                        f"{WORKSPACE_SIZE[1]} workspace (axes, grid, readouts) into a QImage; median of {rounds}",
                        better="lower"))
        workspace.close()
        _qt_app().processEvents()
    return rows
