"""Alpaca's market-data websocket (alpaca-py's ``StockDataStream``) on threads of its own.

Why threads: the SDK's connection loop never returns, and changing subscriptions means
waiting on its loop. So the stream gets a thread of its own, and every blocking call
(subscriptions, REST backfills) runs on one *worker* thread; the caller's (GUI) event loop
only queues jobs.

The stream thread runs the SDK's loop on a plain asyncio loop of its own, never through
``asyncio.run`` (the SDK's ``run()``): a host that installs a global event-loop policy
(``qasync.run`` does on Python < 3.12; the app itself no longer uses it) would make
``asyncio.run`` in this thread build a *Qt* loop, and the stream would die at once
(``QApplication::exec: Must be called from the main thread``).
A stream thread that dies anyway is reported down (every feed disconnected, with the
reason) and started again with exponential backoff, with every subscription it had.

The SDK has no hooks for its connection state, so :class:`_SdkStream` overrides its
connection coroutines (``_run_forever``, ``_start_ws``, ``_send_subscribe_msg``,
``_consume``, ``_dispatch``, ``close``) to tell a :class:`StreamListener` when the stream
is up, down or rejected. Subscriptions are changed by coroutines run *on the stream
loop* (:meth:`_SdkStream.watch`), not with the SDK's ``subscribe_bars`` from another
thread: that one checks ``_running`` outside the loop, so a symbol added while a
(re)connect is sending the subscription list is never sent (seen under load).
Tested against alpaca-py 0.44 (``tests/test_alpaca_stream.py`` fails first if a release
changes these internals).

The module imports without alpaca-py (the extra is optional); :class:`AlpacaSource`
reports the missing package before anything here is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

try:
    with warnings.catch_warnings():
        # alpaca-py still uses websockets.legacy, which warns on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from alpaca.data.enums import DataFeed
        from alpaca.data.live import StockDataStream
except ImportError:  # pragma: no cover - the optional extra is missing
    DataFeed = None  # type: ignore[assignment,misc]
    StockDataStream = object  # type: ignore[assignment,misc]

__all__ = ["AlpacaStream", "StreamListener", "is_rejection"]

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
#: server errors that no retry can fix: the keys (or the plan) are wrong
_REJECTIONS = ("auth failed", "failed to authenticate", "not authenticated", "insufficient subscription", "forbidden")
#: seconds to wait for the stream or worker thread when closing
CLOSE_TIMEOUT = 5.0


def is_rejection(reason: str) -> bool:
    """True for an error that means the credentials or the plan will never be accepted."""
    text = reason.lower()
    return any(word in text for word in _REJECTIONS)


class StreamListener(Protocol):
    """What the stream reports; every call comes from the stream thread and must not block."""

    def on_bar(self, message: dict[str, Any], updated: bool) -> None:
        """A raw ``b`` (or, with ``updated``, ``u``) message."""

    def on_connected(self) -> None:
        """Connected, authenticated and every subscription sent (also after a reconnect)."""

    def on_disconnected(self, reason: str) -> None:
        """The connection dropped or could not be made; the SDK retries by itself."""

    def on_rejected(self, reason: str) -> None:
        """The server refused the credentials or the feed; the stream has stopped for good."""


class _SdkStream(StockDataStream):
    """``StockDataStream`` that reports its connection state to a listener."""

    def __init__(
        self,
        listener: StreamListener,
        api_key: str,
        secret_key: str,
        feed: str,
        url_override: str | None,
        backoff: tuple[float, float],
    ) -> None:
        super().__init__(api_key, secret_key, raw_data=True, feed=DataFeed(feed), url_override=url_override)
        self._reconnect_min_backoff, self._reconnect_max_backoff = backoff
        self._listener = listener
        self._fresh = False  # a connection was made and its subscriptions are not sent yet
        self._ws_ok = False  # connected and authenticated: a subscribe message can be sent
        self._up = False
        self._last_error: str | None = None
        #: set once the stream's event loop runs (``_loop`` is usable from other threads)
        self.loop_ready = threading.Event()
        #: the server's reason when it refused the credentials or feed
        self.rejected: str | None = None

    @property
    def up(self) -> bool:
        return self._up

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    async def _run_forever(self) -> None:
        self._loop = asyncio.get_running_loop()  # type: ignore[assignment]  # the SDK declares it None
        self.loop_ready.set()
        await super()._run_forever()

    async def serve(self) -> None:
        """Connect, subscribe and dispatch until stopped (the SDK reconnects by itself)."""
        await self._run_forever()

    async def _reject(self, reason: str) -> None:
        if self.rejected is None:
            self.rejected = reason
            await self.stop_ws()  # the SDK would retry forever with the same keys
            self._listener.on_rejected(reason)

    async def _start_ws(self) -> None:
        try:
            await super()._start_ws()
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if is_rejection(reason):
                await self._reject(reason)
            else:
                self._listener.on_disconnected(f"cannot connect to Alpaca: {reason}")
            raise
        self._fresh = self._ws_ok = True

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        await super()._dispatch(msg)  # logs server errors
        if msg.get("T") == "error" and is_rejection(str(msg.get("msg"))):
            await self._reject(str(msg.get("msg")))  # e.g. 409 after subscribing to a feed the plan lacks

    async def _send_subscribe_msg(self) -> None:
        await super()._send_subscribe_msg()
        if self._fresh:
            self._fresh = False
            self._last_error = None
            self._listener.on_connected()  # first, so its jobs are queued once ``up`` reads True
            self._up = True

    async def _consume(self) -> bool:
        try:
            return await super()._consume()
        except Exception as exc:  # the SDK logs it and decides; we only remember why
            self._last_error = str(exc) or type(exc).__name__
            raise

    async def close(self) -> None:
        was_up, self._up, self._fresh, self._ws_ok = self._up, False, False, False
        await super().close()
        if was_up and self._should_run:
            why = f": {self._last_error}" if self._last_error else ""
            self._listener.on_disconnected(f"Alpaca stream disconnected{why}")

    async def shutdown(self) -> None:
        """Stop for good: the SDK's stop, then close the socket so ``recv`` returns at once."""
        await self.stop_ws()
        await self.close()

    def add_handlers(self, symbol: str, on_bar: Handler, on_updated: Handler) -> None:
        """Register ``symbol`` (safe only on the stream loop, or before it runs)."""
        self._handlers["bars"][symbol] = on_bar
        self._handlers["updatedBars"][symbol] = on_updated

    def forget(self, symbol: str) -> None:
        """Drop ``symbol``'s handlers (safe only on the stream loop, or when it does not run)."""
        for channel in ("bars", "updatedBars"):
            self._handlers[channel].pop(symbol, None)

    async def watch(self, symbol: str, on_bar: Handler, on_updated: Handler) -> None:
        """Subscribe ``symbol`` now if connected; otherwise the next connect sends it."""
        self.add_handlers(symbol, on_bar, on_updated)
        if self._ws_ok:
            try:
                await self._send_subscribe_msg()
            except Exception as exc:  # the socket dropped: the reconnect subscribes it
                log.warning("alpaca: subscribing %s failed (%s); it is sent on reconnect", symbol, exc)

    async def unwatch(self, symbol: str) -> None:
        self.forget(symbol)
        if self._ws_ok:
            try:
                for channel in ("bars", "updatedBars"):
                    await self._send_unsubscribe_msg(channel, [symbol])
            except Exception as exc:  # the socket dropped: the reconnect leaves it out
                log.warning("alpaca: unsubscribing %s failed (%s)", symbol, exc)


class AlpacaStream:
    """Minute bars and updated bars for a changing set of symbols, with a worker thread.

    :meth:`subscribe`, :meth:`unsubscribe` and :meth:`submit` only queue work, so they
    are safe to call from an event loop. The stream thread starts with the first
    subscription (the SDK spins while it has none).
    """

    def __init__(
        self,
        listener: StreamListener,
        api_key: str,
        secret_key: str,
        *,
        feed: str = "iex",
        url_override: str | None = None,
        backoff: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        self._listener = listener
        self._new_sdk: Callable[[], _SdkStream] = lambda: _SdkStream(
            listener, api_key, secret_key, feed, url_override, backoff
        )
        self._backoff = backoff
        self._sdk = self._new_sdk()
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._lock = threading.Lock()  # guards ``_symbols`` and swapping ``_sdk`` on a restart
        self._symbols: set[str] = set()  # changed by the worker thread only
        self._thread: threading.Thread | None = None
        self._closed = False
        self._closing = threading.Event()  # wakes a restart waiting out its backoff
        #: how many times a dead stream thread was started again (for tests and the status)
        self.restarts = 0
        self._worker = threading.Thread(target=self._work, name="alpaca-worker", daemon=True)
        self._worker.start()

    # -- state ---------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        """Connected with every subscription sent."""
        return self._sdk.up

    # -- called from any thread ------------------------------------------------------------
    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the worker thread (jobs run one at a time, in order)."""
        if not self._closed:
            self._jobs.put(job)

    def subscribe(self, symbol: str) -> None:
        self.submit(lambda: self._subscribe(symbol))

    def unsubscribe(self, symbol: str) -> None:
        self.submit(lambda: self._unsubscribe(symbol))

    def flush(self, timeout: float) -> bool:
        """Wait until every job queued so far has run; False on timeout."""
        done = threading.Event()
        self.submit(done.set)
        return done.wait(timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop the stream and the worker; returns within about ``2 × timeout``."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
        self._closing.set()
        with contextlib.suppress(queue.Empty):
            while True:  # queued subscriptions and backfills are moot now
                self._jobs.get_nowait()
        self._jobs.put(None)
        thread = self._thread
        with self._lock:
            sdk = self._sdk
        if thread is not None and thread.is_alive() and sdk.loop_ready.wait(timeout):
            loop = sdk.loop
            try:
                if loop is not None and loop.is_running():
                    asyncio.run_coroutine_threadsafe(sdk.shutdown(), loop).result(timeout)
            except Exception as exc:  # the loop ended meanwhile: nothing left to stop
                log.debug("alpaca stream shutdown: %s", exc)
        if thread is not None:
            thread.join(timeout)
        self._worker.join(timeout)

    # -- worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # one failed job must not end the worker
                log.exception("alpaca worker job failed")

    def _subscribe(self, symbol: str) -> None:
        with self._lock:
            if symbol in self._symbols or self._sdk.rejected is not None or self._closed:
                return
            self._symbols.add(symbol)
            sdk = self._sdk
            start = self._thread is None
            if start:  # no loop yet: register, then start (the SDK idles until a handler exists)
                sdk.add_handlers(symbol, self._on_bar, self._on_updated_bar)
                self._thread = threading.Thread(target=self._supervise, name="alpaca-stream", daemon=True)
        if start:
            assert self._thread is not None
            self._thread.start()
        else:  # a restart between the lock and here registers it from ``_symbols`` anyway
            self._on_loop(sdk, sdk.watch(symbol, self._on_bar, self._on_updated_bar))

    def _unsubscribe(self, symbol: str) -> None:
        with self._lock:
            if symbol not in self._symbols:
                return
            self._symbols.discard(symbol)
            sdk = self._sdk
            running = self._thread is not None
            if not running:
                sdk.forget(symbol)
        if running:
            self._on_loop(sdk, sdk.unwatch(symbol))

    def _on_loop(self, sdk: _SdkStream, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on ``sdk``'s loop and wait for it (worker thread only)."""
        loop = sdk.loop if sdk.loop_ready.wait(CLOSE_TIMEOUT) else None
        if loop is None or not loop.is_running():
            coro.close()  # the stream has ended (refused, or closing): nothing to change
            return
        try:
            asyncio.run_coroutine_threadsafe(coro, loop).result(CLOSE_TIMEOUT)
        except Exception as exc:
            log.warning("alpaca: could not change the subscription: %s", exc)

    # -- stream thread -------------------------------------------------------------------
    def _supervise(self) -> None:
        """Run the stream until closed or refused; a run that dies is reported and restarted."""
        failures = 0
        while True:
            with self._lock:  # a close() that won the lock is seen here; one that did not stops ``sdk``
                if self._closed:
                    return
                sdk = self._sdk
            reason = self._run_once(sdk)
            if self._closed or sdk.rejected is not None:
                return
            failures += 1
            low, high = self._backoff
            delay = min(high, low * 2 ** (failures - 1))
            log.warning("alpaca stream thread ended (%s); starting it again in %.1f s", reason, delay)
            self._listener.on_disconnected(f"Alpaca stream stopped ({reason}); retrying in {delay:.0f} s")
            if self._closing.wait(delay):
                return
            with self._lock:  # a fresh SDK object: the dead one's loop and events are spent
                self._sdk = self._new_sdk()
                for symbol in self._symbols:
                    self._sdk.add_handlers(symbol, self._on_bar, self._on_updated_bar)
                self.restarts += 1

    @staticmethod
    def _run_once(sdk: _SdkStream) -> str:
        """Run ``sdk`` on a plain loop of this thread's own; why it ended, as text."""
        try:
            with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
                runner.run(sdk.serve())
        except Exception as exc:
            log.debug("alpaca stream thread error", exc_info=True)
            return str(exc) or type(exc).__name__
        return "the connection loop returned"

    async def _on_bar(self, message: dict[str, Any]) -> None:
        self._listener.on_bar(message, False)

    async def _on_updated_bar(self, message: dict[str, Any]) -> None:
        self._listener.on_bar(message, True)
