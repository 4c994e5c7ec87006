"""A local stand-in for Alpaca's market-data API, so the Alpaca source is tested offline.

* a ``websockets`` server speaking the v2 stock stream protocol in msgpack, as alpaca-py's
  ``DataStream`` expects it: ``[{"T":"success","msg":"connected"}]`` on connect, an
  ``auth`` action answered ``authenticated`` or ``[{"T":"error","code":402,"msg":"auth failed"}]``,
  ``subscribe``/``unsubscribe`` actions answered with a ``subscription`` message, then bars
  ``{"T":"b"|"u","S","o","h","l","c","v","t","n","vw"}`` whose ``t`` is a msgpack
  Timestamp (ext type -1), as Alpaca sends it;
* an HTTP server (stdlib, in a thread) answering ``GET /v2/stocks/bars`` with JSON pages
  ``{"bars": {SYM: [...]}, "next_page_token": ...}`` from the same data set, and
  ``GET /v2/assets`` with the symbols it has.

Both run on 127.0.0.1 on free ports. Tests push bars with historical timestamps when
they choose, drop connections, refuse reconnects, and send malformed frames.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import msgpack
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from session_monitor.core.bars import BarArrays

__all__ = ["AlpacaPeer", "bar_message", "wait_until"]

KEY = "PKTESTKEY0001"
SECRET = "test-secret-do-not-log"
_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections", "cancelErrors")


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; AssertionError after ``timeout`` seconds (never hangs)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def _volume(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def bar_message(symbol: str, row: tuple[int, float, float, float, float, float], kind: str = "b") -> dict[str, Any]:
    """One stream bar as Alpaca sends it (``kind`` ``b`` new, ``u`` updated)."""
    ts, o, h, lo, c, v = row
    return {
        "T": kind, "S": symbol, "o": o, "h": h, "l": lo, "c": c, "v": _volume(v),
        "t": msgpack.Timestamp(int(ts), 0), "n": 1, "vw": round((o + h + lo + c) / 4, 4),
    }


def _rows(bars: BarArrays) -> list[tuple[int, float, float, float, float, float]]:
    return list(zip(*(col.tolist() for col in bars), strict=True))


def _rfc3339(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Client:
    """One accepted stream connection and what it subscribed."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.subs: dict[str, set[str]] = {channel: set() for channel in _CHANNELS}


class AlpacaPeer:
    """The stream and REST peers around one data set ``{symbol: BarArrays}``."""

    def __init__(self, data: dict[str, BarArrays] | None = None, *, page_size: int = 100) -> None:
        self.data = {sym.upper(): bars for sym, bars in (data or {}).items()}
        self.page_size = page_size
        self.key, self.secret = KEY, SECRET
        #: stream: connection attempts (refused ones included) and auth attempts
        self.connects = 0
        self.auths = 0
        #: refuse new stream connections with HTTP 503 while True
        self.refuse = False
        #: REST: the query of every request, and statuses to answer the next requests with
        self.rest_requests: list[dict[str, str]] = []
        self.rest_failures: list[int] = []
        self.actions: list[dict[str, Any]] = []
        self._clients: list[_Client] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="alpaca-peer", daemon=True)
        self._server: Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> AlpacaPeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self._server = self._call(self._serve())
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._rest_handler())
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                             name="alpaca-peer-rest", daemon=True)
        self._http_thread.start()

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._server is not None:
            self._call(self._close_server())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def ws_url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/v2/iex"

    @property
    def rest_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # -- stream control (from the test thread) -------------------------------------------
    def subscribed(self, symbol: str, channel: str = "bars") -> bool:
        return any(symbol in client.subs[channel] for client in list(self._clients))

    @property
    def clients(self) -> int:
        return len(self._clients)

    def send_bars(self, symbol: str, bars: BarArrays, kind: str = "b", per_frame: int = 50) -> None:
        """Send ``bars`` to every connection subscribed to ``symbol`` (``kind`` b or u)."""
        channel = "bars" if kind == "b" else "updatedBars"
        messages = [bar_message(symbol, row, kind) for row in _rows(bars)]
        for i in range(0, len(messages), per_frame):
            self.send_frame(msgpack.packb(messages[i : i + per_frame]), symbol=symbol, channel=channel)

    def send_messages(self, messages: list[Any]) -> None:
        self.send_frame(msgpack.packb(messages))

    def send_frame(self, frame: bytes, symbol: str | None = None, channel: str = "bars") -> None:
        """Send raw bytes to every authenticated connection (subscribed to ``symbol`` if given)."""
        self._call(self._broadcast(frame, symbol, channel))

    def drop_connections(self) -> None:
        """Abort every stream connection without a close frame, as a network failure would."""
        self._call(self._drop())

    # -- stream server -------------------------------------------------------------------
    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    async def _serve(self) -> Server:
        return await serve(self._handle, "127.0.0.1", 0, process_request=self._gate, compression=None)

    async def _close_server(self) -> None:
        assert self._server is not None
        self._server.close()
        for client in list(self._clients):
            client.ws.transport.abort()
        await asyncio.wait_for(self._server.wait_closed(), 5)

    def _gate(self, connection: ServerConnection, request: Any) -> Any:
        self.connects += 1
        if self.refuse:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down for the test\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        try:
            auth = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
        except (TimeoutError, ConnectionClosed):
            return
        self.auths += 1
        if auth.get("action") != "auth" or auth.get("key") != self.key or auth.get("secret") != self.secret:
            await ws.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await ws.close()
            return
        await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        client = _Client(ws)
        self._clients.append(client)
        try:
            async for frame in ws:
                await self._action(client, msgpack.unpackb(frame))
        except ConnectionClosed:
            pass
        finally:
            self._clients.remove(client)

    async def _action(self, client: _Client, message: dict[str, Any]) -> None:
        self.actions.append(message)
        action = message.get("action")
        if action not in ("subscribe", "unsubscribe"):
            await client.ws.send(msgpack.packb([{"T": "error", "code": 400, "msg": "invalid syntax"}]))
            return
        for channel in _CHANNELS:
            for symbol in message.get(channel) or []:
                if action == "subscribe":
                    client.subs[channel].add(symbol)
                else:
                    client.subs[channel].discard(symbol)
        reply = {"T": "subscription", **{channel: sorted(client.subs[channel]) for channel in _CHANNELS}}
        await client.ws.send(msgpack.packb([reply]))

    async def _broadcast(self, frame: bytes, symbol: str | None, channel: str) -> None:
        for client in list(self._clients):
            if symbol is None or symbol in client.subs[channel]:
                await client.ws.send(frame)

    async def _drop(self) -> None:
        for client in list(self._clients):
            client.ws.transport.abort()

    # -- REST server ---------------------------------------------------------------------
    def _bars_page(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.rest_failures:
            status = self.rest_failures.pop(0)
            return status, {"code": status * 100, "message": f"injected {status}"}
        start = int(dt.datetime.fromisoformat(query["start"]).timestamp())
        end = int(dt.datetime.fromisoformat(query["end"]).timestamp())
        items = []
        for symbol in sorted(s.strip().upper() for s in query.get("symbols", "").split(",") if s.strip()):
            bars = self.data.get(symbol)
            if bars is None:
                continue
            for row in _rows(bars):
                if start <= row[0] <= end:
                    items.append((symbol, row))
        offset = int(query.get("page_token") or 0)
        limit = min(int(query.get("limit") or self.page_size), self.page_size)
        page = items[offset : offset + limit]
        out: dict[str, list[dict[str, Any]]] = {}
        for symbol, (ts, o, h, lo, c, v) in page:
            out.setdefault(symbol, []).append(
                {"t": _rfc3339(ts), "o": o, "h": h, "l": lo, "c": c, "v": _volume(v), "n": 1, "vw": c}
            )
        token = str(offset + limit) if offset + limit < len(items) else None
        return 200, {"bars": out, "next_page_token": token}

    def _assets(self, query: dict[str, str]) -> Any:
        """``GET /v2/assets``: the symbols it has bars for, plus one it cannot trade."""
        rows = [{"symbol": s, "class": "us_equity", "status": "active", "tradable": True} for s in self.data]
        rows.append({"symbol": "NOTRADE", "class": "us_equity", "status": "active", "tradable": False})
        return rows

    def _rest_handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                peer.rest_requests.append(query)
                keys = (self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY"))
                if keys != (peer.key, peer.secret):
                    status, body = 403, {"message": "forbidden."}
                elif url.path == "/v2/assets":
                    status, body = 200, peer._assets(query)
                elif url.path != "/v2/stocks/bars":
                    status, body = 404, {"message": "not found"}
                else:
                    status, body = peer._bars_page(query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read peer.rest_requests instead

        return Handler
