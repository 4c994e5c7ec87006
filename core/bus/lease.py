"""The lease keeper: an owner's lease renewed from a thread of its own, while its event loop shows progress.

Why a thread: an engine's event loop can be held for seconds by synchronous work (loading or
resuming hundreds of 1s symbols, a max-speed step, copying a previous owner's bars into its
recording), and a renewal queued on that loop came late: the lease expired and a standby took
the shard (or the engine fenced itself out), an unneeded failover. The keeper renews every
third of the lease with a blocking client, whatever the loop is doing.

Why a watchdog: a thread that renews regardless would keep the shard of an engine whose loop is
stuck for good (a deadlock, an endless loop). The loop stamps a monotonic *alive* time from a
small task (:meth:`LeaseKeeper.start`); the thread renews only while the newest stamp is at most
``stall_seconds`` old. A loop stuck longer lets the lease expire, a standby takes the next epoch,
and the stuck engine, if it ever wakes, finds its appends refused (``FENCED``) and stops. A
SIGSTOP stops every thread of the process, so a paused engine's lease expires as before.

The keeper only renews. A renewal that finds the lease no longer ours (it expired while the server
was away, or another owner took it) is reported through :meth:`LeaseKeeper.lapsed`; what to do then
(take it back if it is free, else stop) is the owner's, run on its loop by the one rule
:func:`~core.bus.shardlog.retake`.

Two kinds of owner use it: a shard's engine (core/bus/serve.py) and the feed gateway
(core/bus/gateway.py), whose loop a long synchronous stretch (a large REST backfill decoded,
a collection, a loaded machine) would otherwise cost the feed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from session_monitor.core.bus.shardlog import TRANSIENT

__all__ = ["MIN_STALL_SECONDS", "LeaseKeeper", "stall_limit"]

log = logging.getLogger(__name__)

#: the shortest default stall limit: the longest synchronous stretch measured in an engine (a
#: take-over copying 100 symbols of 1s bars into its recording on a loaded 2-core machine, a
#: max-speed step of 300 symbols) is a few seconds; a minute leaves a wide margin, and a stuck
#: engine's shard still goes to its standby within about a minute
MIN_STALL_SECONDS = 60.0
#: ... and never under this many leases (a long lease is chosen for a slow machine)
STALL_LEASES = 4
#: at most this many seconds between two stamps of the loop's progress
STAMP_SECONDS = 0.5


def stall_limit(lease_seconds: float, stall_seconds: float | None = None) -> float:
    """Seconds without loop progress after which the lease is left to expire (default: the larger of
    :data:`MIN_STALL_SECONDS` and :data:`STALL_LEASES` leases)."""
    if stall_seconds is not None:
        if not stall_seconds > 0:
            raise ValueError(f"--stall-seconds must be a positive number of seconds, not {stall_seconds:g}")
        return stall_seconds
    return max(MIN_STALL_SECONDS, STALL_LEASES * lease_seconds)


class LeaseKeeper:
    """Renews a lease every third of its time from a thread, while the owner's event loop stamps progress.

    Parameters
    ----------
    renew:
        Renews the lease with a blocking client; False when the lease is not ours (any other
        outcome raises; a transient Redis error is retried at the next renewal).
    lease_seconds:
        The lease's time-to-live.
    stall_seconds:
        Renew only while the loop stamped progress at most this long ago (see :func:`stall_limit`).
    name:
        What holds the lease, for the thread's name and the messages (``shard 1/3``).
    """

    def __init__(self, renew: Callable[[], bool], lease_seconds: float, stall_seconds: float, name: str) -> None:
        self._renew = renew
        self.period = lease_seconds / 3
        self.stall_seconds = stall_seconds
        self.name = name
        self._alive = time.monotonic()
        self._lapsed = threading.Event()
        self._stopped = threading.Event()
        self._stalled = False
        self._thread = threading.Thread(target=self._run, name=f"{name.replace(' ', '-')}-lease", daemon=True)
        self._stamper: asyncio.Task[None] | None = None

    def beat(self) -> None:
        """The loop made progress now (any thread may call it; a float store is atomic)."""
        self._alive = time.monotonic()

    def start(self) -> None:
        """Start renewing, and stamping from the running loop (call it on that loop)."""
        self.beat()
        self._stamper = asyncio.get_running_loop().create_task(self._stamp(), name=f"{self.name} alive")
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the lease then expires unless released) and stamping."""
        self._stopped.set()
        if self._stamper is not None:
            self._stamper.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=self.period)

    def lapsed(self) -> bool:
        """A renewal found the lease not ours since the last call (the flag is cleared)."""
        if not self._lapsed.is_set():
            return False
        self._lapsed.clear()
        return True

    async def _stamp(self) -> None:
        pause = min(STAMP_SECONDS, self.stall_seconds / 4)
        while True:
            self.beat()
            await asyncio.sleep(pause)

    def _run(self) -> None:
        while not self._stopped.wait(self.period):
            self.renew_once()

    def renew_once(self) -> bool:
        """One renewal if the loop showed progress recently enough; True when the lease was renewed."""
        silent = time.monotonic() - self._alive
        if silent > self.stall_seconds:
            if not self._stalled:
                log.warning("%s: the event loop has made no progress for %.0f s (limit %g s); the lease is left "
                            "to expire so that a standby can take over", self.name, silent, self.stall_seconds)
            self._stalled = True
            return False
        if self._stalled:
            log.warning("%s: the event loop is making progress again; renewing the lease", self.name)
            self._stalled = False
        try:
            if self._renew():
                return True
            self._lapsed.set()
        except TRANSIENT:
            pass  # Redis is away: the writer reports it; the next renewal tries again
        except Exception as exc:  # never let the thread die: the next renewal tries again
            log.warning("%s: renewing the lease failed (%s); trying again in %.1f s", self.name, exc, self.period)
        return False
