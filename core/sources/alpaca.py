"""Live minute bars from Alpaca: websocket stream for new bars, REST for history and gaps.

``load_session`` fetches the session so far over REST (a symbol added mid-session
starts complete); ``open_feed`` returns a :class:`~core.feeds.PushFeed` pre-filled with
it and subscribes the symbol's minute bars and updated (corrected) bars. When the
websocket drops, every feed is disconnected (the coordinator shows the symbols down);
when the SDK has reconnected, the missed span is fetched over REST and pushed before
the feeds are reconnected, so the gap closes. Refused credentials stop the stream for
good and every feed reports why, instead of retrying.

alpaca-py is an optional extra (``pip install '.[alpaca]'``): it is imported only when
a source is created, so this module imports without it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.clock import WALL_CLOCK
from session_monitor.core.feeds import PushFeed
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import BarSource, DataProblem, LoadedSession, SourceError
from session_monitor.core.sources.validation import MAX_VOLUME, TS_INVALID, validate_bars
from session_monitor.core.symbols import is_symbol, normalise_symbol

if TYPE_CHECKING:
    from session_monitor.core.credentials import Credentials
    from session_monitor.core.sources.alpaca_stream import AlpacaStream

__all__ = [
    "FEEDS", "ONE_MINUTE", "REST_URL_VARIABLE", "STREAM_URL_VARIABLE", "AlpacaSource", "AlpacaStats", "HistoryError",
    "endpoint_overrides", "open_alpaca", "parse_stream_bar",
]

log = logging.getLogger(__name__)

ONE_MINUTE = Interval(60)
FEEDS = ("iex", "sip")
INSTALL_HINT = "alpaca-py is not installed: pip install '.[alpaca]'"
#: symbols per REST request when backfilling many at once (keeps the URL short)
REST_BATCH = 100
#: environment variables that point the source at another endpoint (see :func:`endpoint_overrides`)
STREAM_URL_VARIABLE = "SESSION_MONITOR_ALPACA_STREAM_URL"
REST_URL_VARIABLE = "SESSION_MONITOR_ALPACA_REST_URL"
#: seconds before a REST request gives up (the SDK sets no timeout of its own)
REST_TIMEOUT = 20.0


class HistoryError(Exception):
    """A REST request for bars failed for a reason a later retry may fix."""


def _require_sdk() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # alpaca-py imports websockets.legacy
            import alpaca.data  # noqa: F401
    except ImportError as exc:
        raise SourceError(INSTALL_HINT) from exc


def _refusal(feed: str, message: str) -> SourceError:
    """The user-facing error for a refused key pair (or a feed the plan does not include)."""
    if "subscription" in message.lower():
        hint = " (the free plan has iex only)" if feed == "sip" else ""
        return SourceError(f"Alpaca refused the {feed} feed for these credentials: {message}{hint}")
    return SourceError(f"Alpaca rejected the credentials: {message}")


# -- parsing ----------------------------------------------------------------------------
def _epoch(value: Any) -> int:
    """Seconds of a bar time: a msgpack Timestamp (stream), RFC 3339 text (REST) or a datetime."""
    if hasattr(value, "seconds") and hasattr(value, "nanoseconds"):
        if value.nanoseconds:
            raise ValueError(f"bar time {value!r} is not on a whole second")
        return int(value.seconds)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"bar time {value!r} has no UTC offset")
        seconds = value.timestamp()
        if seconds != int(seconds):
            raise ValueError(f"bar time {value!r} is not on a whole second")
        return int(seconds)
    raise ValueError(f"bar time {value!r} is not a timestamp")


def parse_stream_bar(message: Mapping[str, Any]) -> tuple[str, tuple[int, float, float, float, float, float]]:
    """``(symbol, (ts, o, h, l, c, v))`` of a ``b``/``u`` message; ValueError says what is wrong."""
    try:
        symbol = message["S"]
        ts = _epoch(message["t"])
        o, h, lo, c, v = (float(message[k]) for k in ("o", "h", "l", "c", "v"))
    except KeyError as exc:
        raise ValueError(f"field {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"symbol {symbol!r} is not a name")
    symbol = normalise_symbol(symbol)  # SymbolError is a ValueError: the message is refused
    if ts % 60:
        raise ValueError(f"bar time {ts} is not on a minute")
    prices = np.array([o, h, lo, c])
    if not (np.isfinite(prices).all() and (prices > 0).all() and np.isfinite(v) and 0 <= v <= MAX_VOLUME):
        raise ValueError(f"prices must be finite and positive, volume between 0 and {MAX_VOLUME:g}")
    if not (lo <= min(o, c) and h >= max(o, c)):
        raise ValueError(f"OHLC out of order (o={o} h={h} l={lo} c={c})")
    return symbol, (ts, o, h, lo, c, v)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _rest_columns(rows: Sequence[Mapping[str, Any]]) -> BarArrays:
    """REST bar dicts as raw columns; an unreadable time becomes TS_INVALID for validation."""
    ts = np.full(len(rows), TS_INVALID, np.int64)
    for i, row in enumerate(rows):
        with contextlib.suppress(TypeError, ValueError):  # left TS_INVALID: validation words it
            ts[i] = _epoch(row.get("t"))
    cols = [np.array([_number(row.get(k)) for row in rows], np.float64) for k in ("o", "h", "l", "c", "v")]
    return BarArrays(ts, *cols)


# -- REST ---------------------------------------------------------------------------------
class _History:
    """Minute bars over REST with alpaca-py's ``StockHistoricalDataClient`` (one per thread)."""

    def __init__(self, api_key: str, secret_key: str, feed: str, url_override: str | None) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self.feed = feed
        self.url_override = url_override
        self._local = threading.local()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from alpaca.data.historical import StockHistoricalDataClient

            client = StockHistoricalDataClient(
                self._api_key, self._secret_key, raw_data=True, url_override=self.url_override
            )
            session = getattr(client, "_session", None)  # requests.Session, no timeout by default
            if session is not None:
                session.request = partial(session.request, timeout=REST_TIMEOUT)
            self._local.client = client
        return client

    def fetch(self, symbols: Sequence[str], start: float, end: float) -> dict[str, list[Mapping[str, Any]]]:
        """Bars starting in ``[start, end]`` per symbol (the SDK follows ``next_page_token``).

        Raises SourceError for refused credentials, HistoryError for anything else.
        """
        from alpaca.common.exceptions import APIError
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        request = StockBarsRequest(
            symbol_or_symbols=list(symbols),
            timeframe=TimeFrame.Minute,
            start=dt.datetime.fromtimestamp(start, dt.UTC),
            end=dt.datetime.fromtimestamp(end, dt.UTC),
            feed=DataFeed(self.feed),
            adjustment=Adjustment.RAW,  # the stream is unadjusted too
        )
        try:
            raw = self._client().get_stock_bars(request)
        except APIError as exc:
            status = exc.status_code
            try:
                message = str(exc.message)
            except Exception:
                message = str(exc)
            if status in (401, 403):
                raise _refusal(self.feed, message) from None
            raise HistoryError(f"Alpaca answered {status}: {message}") from None
        except Exception as exc:  # network errors, retries exhausted (the SDK then returns None), bad JSON
            raise HistoryError(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(raw, dict):
            raise HistoryError(f"unexpected answer from Alpaca: {type(raw).__name__}")
        return {
            normalise_symbol(str(symbol)): [row for row in rows if isinstance(row, Mapping)]
            for symbol, rows in raw.items()
            if isinstance(rows, list) and is_symbol(str(symbol))
        }


    def assets(self) -> list[str]:
        """Symbols of active, tradable US equities (TradingClient; ``url_override`` serves it
        too, for a test peer or a proxy). Paper keys (``PK…``) ask the paper endpoint."""
        from alpaca.trading.client import TradingClient
        from alpaca.trading.enums import AssetClass, AssetStatus
        from alpaca.trading.requests import GetAssetsRequest

        try:
            client = TradingClient(
                self._api_key,
                self._secret_key,
                paper=self._api_key.startswith("PK"),
                raw_data=True,
                url_override=self.url_override,
            )
            rows = client.get_all_assets(GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY))
        except Exception:  # refused keys, no network: no completion, nothing else changes
            return []
        if not isinstance(rows, list):
            return []
        return sorted(
            str(row["symbol"]).upper()
            for row in rows
            if isinstance(row, Mapping) and row.get("symbol") and row.get("tradable", True)
        )


# -- per-symbol state -------------------------------------------------------------------------
@dataclass
class AlpacaStats:
    """Counts for diagnostics and tests."""

    streamed: int = 0  # new bars from the stream
    corrected: int = 0  # updated bars that changed a bar
    filled: int = 0  # bars fetched over REST to close a gap
    malformed: int = 0  # stream messages that were not a usable bar
    fills: int = 0  # REST backfill requests made


class _Watch:
    """One watched symbol: its PushFeed, and what was pushed (to push only news)."""

    def __init__(self, symbol: str, session: Session, feed: PushFeed) -> None:
        self.symbol = symbol
        self.session = session
        self.feed = feed
        self._lock = threading.Lock()
        self._seen: dict[int, tuple[float, ...]] = {}

    def remember(self, bars: BarArrays) -> None:
        with self._lock:
            for row in zip(*(col.tolist() for col in bars), strict=True):
                self._seen[row[0]] = row[1:]

    def next_start(self) -> int:
        """Start of the first bar after the newest one held (the session open when none)."""
        with self._lock:
            return max(self._seen) + 60 if self._seen else self.session.open

    def offer(self, rows: Iterable[tuple[int, float, float, float, float, float]], *, replace: bool) -> int:
        """Push in-session rows that are new (or, with ``replace``, changed); returns how many."""
        fresh = []
        with self._lock:
            for row in rows:
                ts, values = row[0], row[1:]
                if not self.session.contains(ts) or (ts - self.session.open) % 60:
                    continue
                old = self._seen.get(ts)
                if old is None or (replace and old != values):
                    self._seen[ts] = values
                    fresh.append(row)
        if fresh:
            self.feed.push(BarArrays.from_rows(sorted(fresh)))
        return len(fresh)


# -- the source -------------------------------------------------------------------------------
class AlpacaSource(BarSource):
    """Live 1m bars from Alpaca's market-data API (``iex`` for the free plan, ``sip`` paid).

    ``live``: the coordinator runs it on the wall clock over today's (or the next) session.

    ``url_override`` points the websocket elsewhere (a test peer, a proxy),
    ``rest_url_override`` the REST base URL (without ``/v2``). ``now`` and ``backoff``
    (the SDK's reconnect delays, min and max seconds) exist so tests can drive time.
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        feed: str = "iex",
        url_override: str | None = None,
        rest_url_override: str | None = None,
        calendar: str = "XNYS",
        *,
        now: Callable[[], float] = WALL_CLOCK.now,
        backoff: tuple[float, float] = (1.0, 30.0),
        fill_attempts: int = 3,
        fill_retry_seconds: float = 2.0,
    ) -> None:
        _require_sdk()
        feed = feed.strip().lower()
        if feed not in FEEDS:
            raise SourceError(f"unknown Alpaca feed {feed!r} (use iex or sip)")
        if not api_key or not secret_key:
            raise SourceError("Alpaca needs an API key id and a secret key")
        self.feed = feed
        self.name = f"alpaca {feed}"
        self.live = True
        self.omits_empty_intervals = True  # Alpaca sends no bar for a minute without trades
        self.url_override = url_override
        self.rest_url_override = rest_url_override
        self._calendar = calendar
        self._api_key = api_key
        self._secret_key = secret_key
        self._now = now
        self._backoff = backoff
        self._fill_attempts = max(1, fill_attempts)
        self._fill_retry = fill_retry_seconds
        self._history = _History(api_key, secret_key, feed, rest_url_override)
        self._lock = threading.Lock()
        self._watches: dict[str, _Watch] = {}
        self._stream: AlpacaStream | None = None
        self._down: str | None = None  # why the stream is down, while it is
        self._generation = 0  # bumped at every disconnect (and a refusal)
        self._closed = False
        self.stats = AlpacaStats()
        #: set when Alpaca refused the credentials: shown to the user, never retried
        self.error: SourceError | None = None

    @classmethod
    def from_credentials(cls, credentials: Credentials, feed: str = "iex", **kwargs: Any) -> AlpacaSource:
        return cls(credentials.api_key, credentials.secret_key, feed, **kwargs)

    def __repr__(self) -> str:  # never the keys
        return f"AlpacaSource(feed={self.feed!r}, watching={sorted(self._watches)!r})"

    # -- BarSource ------------------------------------------------------------------------
    @property
    def key(self) -> str:
        where = f"@{self.url_override}" if self.url_override else ""
        return f"alpaca:{self.feed}{where}"

    @property
    def calendar_hint(self) -> str | None:
        return self._calendar

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return (ONE_MINUTE,)

    def symbols(self) -> list[str]:
        """Active, tradable US equities from Alpaca's asset list (symbol completion).

        Blocking REST; an empty list when Alpaca cannot be asked (completion is a help)."""
        return self._history.assets()

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        """The session's complete bars so far over REST; refused keys raise SourceError."""
        sym = symbol.strip().upper()
        loaded = LoadedSession(sym, session, base, BarArrays.empty())
        if base != ONE_MINUTE:
            loaded.problems.append(DataProblem(f"Alpaca streams 1m bars, not {base}", symbol=sym))
            return loaded
        if self.error is not None:
            raise SourceError(str(self.error))
        now = self._now()
        end = min(float(session.close), now)
        if end < session.open + 60:
            return loaded  # nothing has completed yet: the stream brings it all
        try:
            rows = self._history.fetch([sym], session.open, end).get(sym, [])
        except HistoryError as exc:
            loaded.problems.append(
                DataProblem(f"could not fetch the history so far ({exc}); it is retried once streaming", symbol=sym)
            )
            return loaded
        bars, problems, outside = validate_bars(
            *_rest_columns(rows), np.arange(1, len(rows) + 1), "alpaca REST", sym, session
        )
        complete = bars.ts + 60 <= now
        loaded.bars = bars.take(complete)
        loaded.problems.extend(problems)
        loaded.outside_session = outside
        return loaded

    def open_feed(self, loaded: LoadedSession) -> PushFeed:
        """A PushFeed holding ``loaded``; the symbol is subscribed live. Never raises."""
        feed = PushFeed(loaded.symbol, ONE_MINUTE.seconds, history=loaded.bars)
        watch = _Watch(loaded.symbol, loaded.session, feed)
        watch.remember(loaded.bars)
        if self.error is not None:
            feed.disconnect(str(self.error), fatal=True)
            return feed
        with self._lock:
            self._watches[loaded.symbol] = watch
            down = self._down
        if down is not None:
            feed.disconnect(down)
        try:
            stream = self._ensure_stream()
        except SourceError as exc:
            feed.disconnect(str(exc))
            return feed
        stream.subscribe(loaded.symbol)
        stream.submit(partial(self._catch_up, loaded.symbol))
        return feed

    # -- lifecycle -----------------------------------------------------------------------------
    def close_feed(self, symbol: str) -> None:
        """Stop streaming ``symbol`` (call when the symbol is removed); bars for it are dropped."""
        sym = symbol.strip().upper()
        with self._lock:
            watch = self._watches.pop(sym, None)
            stream = self._stream
        if watch is not None and stream is not None:
            stream.unsubscribe(sym)

    def close(self) -> None:
        """Stop the stream and its threads (idempotent)."""
        with self._lock:
            self._closed = True
            stream, self._stream = self._stream, None
            self._watches.clear()
        if stream is not None:
            stream.close()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until queued subscriptions and backfills have run (for tests and shutdown)."""
        stream = self._stream
        return True if stream is None else stream.flush(timeout)

    @property
    def connected(self) -> bool:
        """The websocket is up with every subscription sent."""
        stream = self._stream
        return stream is not None and stream.up

    def _ensure_stream(self) -> AlpacaStream:
        with self._lock:
            if self._closed:
                raise SourceError("the Alpaca source is closed")
            if self._stream is None:
                from session_monitor.core.sources.alpaca_stream import AlpacaStream

                self._stream = AlpacaStream(
                    self, self._api_key, self._secret_key,
                    feed=self.feed, url_override=self.url_override, backoff=self._backoff,
                )
            return self._stream

    # -- StreamListener (stream thread: never block) ------------------------------------------
    def on_bar(self, message: dict[str, Any], updated: bool) -> None:
        try:
            symbol, row = parse_stream_bar(message)
        except ValueError as exc:
            self.stats.malformed += 1
            log.warning("alpaca: ignored a malformed %s message (%s): %.200r", "u" if updated else "b", exc, message)
            return
        heard = self._now()
        for other in list(self._watches.values()):
            other.feed.touch(heard)  # a message on the connection proves every symbol's feed alive
        watch = self._watches.get(symbol)
        if watch is None:
            return  # unsubscribed meanwhile
        if watch.offer([row], replace=True):
            if updated:
                self.stats.corrected += 1
            else:
                self.stats.streamed += 1

    def on_connected(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.submit(partial(self._resume, self._generation))

    def on_disconnected(self, reason: str) -> None:
        with self._lock:
            self._generation += 1
            self._down = reason
            watches = list(self._watches.values())
        log.warning("alpaca: %s", reason)
        for watch in watches:
            watch.feed.disconnect(reason)

    def on_rejected(self, reason: str) -> None:
        error = _refusal(self.feed, reason)
        with self._lock:
            self._generation += 1  # a resume still queued must not reconnect the feeds
            self._down = str(error)  # feeds opened from now on start down
            watches = list(self._watches.values())
        log.error("alpaca: %s", error)
        for watch in watches:
            watch.feed.disconnect(str(error), fatal=True)
        self.error = error  # last: once it is visible, every feed says it

    # -- worker thread ---------------------------------------------------------------------
    def _catch_up(self, symbol: str) -> None:
        """After subscribing: fetch what completed between the load and the subscription."""
        stream = self._stream
        watch = self._watches.get(symbol)
        if stream is not None and stream.up and watch is not None:
            self._fill([watch])  # when not up, the reconnect's _resume fills it

    def _resume(self, generation: int) -> None:
        """After a (re)connect: backfill every symbol from its newest bar, then reconnect its feed."""
        with self._lock:
            watches = list(self._watches.values())
        self._fill(watches)
        with self._lock:
            if generation != self._generation:
                return  # dropped again meanwhile: the next connect resumes
            self._down = None
            watches = list(self._watches.values())
        for watch in watches:
            watch.feed.reconnect()

    def _fill(self, watches: Sequence[_Watch]) -> None:
        """Push the bars each watch misses from its newest bar up to now (only missing ones)."""
        now = self._now()
        todo = [(w, w.next_start(), min(float(w.session.close), now)) for w in watches]
        todo = [(w, start, end) for w, start, end in todo if start + 60 <= end]
        for i in range(0, len(todo), REST_BATCH):
            batch = todo[i : i + REST_BATCH]
            rows = self._fetch_with_retries(
                [w.symbol for w, _, _ in batch], min(s for _, s, _ in batch), max(e for _, _, e in batch)
            )
            if rows is None:
                continue
            for watch, start, _ in batch:
                got = rows.get(watch.symbol, [])
                bars, problems, _ = validate_bars(
                    *_rest_columns(got), np.arange(1, len(got) + 1), "alpaca REST", watch.symbol, watch.session
                )
                for problem in problems:
                    log.warning("alpaca backfill: %s", problem)
                keep = (bars.ts >= start) & (bars.ts + 60 <= now)
                self.stats.filled += watch.offer(zip(*(c.tolist() for c in bars.take(keep)), strict=True),
                                                 replace=False)

    def _fetch_with_retries(
        self, symbols: list[str], start: float, end: float
    ) -> dict[str, list[Mapping[str, Any]]] | None:
        for attempt in range(1, self._fill_attempts + 1):
            self.stats.fills += 1
            try:
                return self._history.fetch(symbols, start, end)
            except SourceError as exc:
                log.error("alpaca backfill of %s: %s", ",".join(symbols), exc)
                return None
            except HistoryError as exc:
                log.warning("alpaca backfill of %s failed (attempt %d): %s", ",".join(symbols), attempt, exc)
                if attempt < self._fill_attempts:
                    time.sleep(self._fill_retry * attempt)
        log.warning("alpaca: gave up backfilling %s: the gap stays", ",".join(symbols))
        return None


def endpoint_overrides(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``url_override``/``rest_url_override`` from the environment (a proxy, the sandbox, a stand-in).

    ``SESSION_MONITOR_ALPACA_STREAM_URL`` is the websocket URL (``ws://`` or ``wss://``),
    ``SESSION_MONITOR_ALPACA_REST_URL`` the REST base URL without ``/v2`` (``http(s)://``).
    A value of the wrong scheme is refused with SourceError naming the variable.
    """
    env = os.environ if environ is None else environ
    overrides: dict[str, str] = {}
    for variable, argument, schemes in (
        (STREAM_URL_VARIABLE, "url_override", ("ws", "wss")),
        (REST_URL_VARIABLE, "rest_url_override", ("http", "https")),
    ):
        value = env.get(variable, "").strip()
        if not value:
            continue
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise SourceError(f"{variable}={value!r} is not a {' or '.join(s + '://' for s in schemes)} URL")
        overrides[argument] = value.rstrip("/")
    return overrides


def open_alpaca(feed: str = "iex", environ: Mapping[str, str] | None = None, **kwargs: Any) -> AlpacaSource:
    """The source for ``alpaca[:FEED]``: keys from the environment or the keyring (core.credentials).

    Endpoints come from :func:`endpoint_overrides` unless given. Raises SourceError saying
    what is missing (alpaca-py, or keys and where to put them).
    """
    _require_sdk()
    from session_monitor.core.credentials import load_credentials

    kwargs = {**endpoint_overrides(environ), **kwargs}
    lookup = load_credentials(environ)
    if lookup.credentials is None:
        raise SourceError(f"Alpaca needs API keys: {lookup.note}")
    if lookup.note:
        log.info("alpaca: %s", lookup.note)
    return AlpacaSource.from_credentials(lookup.credentials, feed, **kwargs)
