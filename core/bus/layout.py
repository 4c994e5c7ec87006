"""Key names, shard assignment and the schema version: the one place the Redis layout is spelled.

Every key of a shard carries the hash tag ``{I/N}``, so on Redis Cluster a shard's log,
snapshot and lease live in one hash slot and the Lua scripts touching them stay legal.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["DEPLOYMENT_KEY", "FEED_KEYS", "FEED_SCHEMA_VERSION", "SCHEMA_VERSION", "FeedKeys", "ShardKeys", "ShardSpec",
           "shard_of"]

#: bumped whenever a message's fields change meaning; readers refuse other versions
SCHEMA_VERSION = 5
#: the feed gateway's messages (base bars per symbol, feed state); readers refuse other versions
FEED_SCHEMA_VERSION = 1
#: a hash naming the deployment's shard count (``shards``), so followers know what to read
DEPLOYMENT_KEY = "sm:deployment"


def shard_of(symbol: str, count: int) -> int:
    """The shard (1..count) that owns ``symbol``: crc32, the same in every process and machine."""
    return zlib.crc32(symbol.upper().encode()) % count + 1


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """Shard ``index`` of ``count`` (numbered from 1)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        try:
            index_text, count_text = text.split("/")
            index, count = int(index_text), int(count_text)
        except ValueError:
            raise ValueError(f"--shard {text!r} is not I/N (e.g. 2/3)") from None
        if not 1 <= index <= count:
            raise ValueError(f"--shard {text!r}: I must be between 1 and N")
        return cls(index, count)

    def owns(self, symbol: str) -> bool:
        return shard_of(symbol, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True, slots=True)
class ShardKeys:
    """The keys of one shard."""

    shard: ShardSpec

    @property
    def _prefix(self) -> str:
        return f"sm:{{{self.shard}}}"

    @property
    def log(self) -> str:
        """The shard's stream: every change, in order."""
        return f"{self._prefix}:log"

    @property
    def snapshot(self) -> str:
        """Hash: the log entry the shard's snapshot is current to (``pos``) and how many parts it has."""
        return f"{self._prefix}:snap"

    def snapshot_part(self, pos: str, index: int) -> str:
        """Hash: part ``index`` of the snapshot current to log entry ``pos`` (its messages and their blob).

        The append script spells the same name (``KEYS[3] .. ':' .. id .. ':' .. k``).
        """
        return f"{self.snapshot}:{pos}:{index}"

    @property
    def lease(self) -> str:
        """The owner's ``epoch:engine`` token, with a TTL the owner keeps renewing."""
        return f"{self._prefix}:lease"

    @property
    def epoch(self) -> str:
        """Counter: each new owner takes the next epoch."""
        return f"{self._prefix}:epoch"

    @property
    def commands(self) -> str:
        """Stream of add/remove requests from GUIs to the owner."""
        return f"{self._prefix}:cmd"


@dataclass(frozen=True, slots=True)
class FeedKeys:
    """The feed gateway's keys: one live connection's base bars, its state, its lease.

    All carry the hash tag ``{feed}``: the gateway's fenced append checks the lease and adds
    to several symbols' streams in one Lua script, which Redis Cluster allows in one slot
    only. One slot is plenty: it carries one connection's bars (Alpaca: one bar per symbol
    and minute).
    """

    prefix: str = "sm:{feed}"

    def bars(self, symbol: str) -> str:
        """Stream: every accepted base bar of ``symbol`` (and each correction), in arrival order."""
        return f"{self.prefix}:bars:{symbol}"

    @property
    def state(self) -> str:
        """Stream: the connection's state (connected, retrying, down) and the gateway's heartbeat."""
        return f"{self.prefix}:state"

    @property
    def meta(self) -> str:
        """Hash: what the gateway serves (source, base seconds, calendar), for the engines' ``bus:`` source."""
        return f"{self.prefix}:meta"

    @property
    def lease(self) -> str:
        """The gateway's ``epoch:gateway`` token, with a TTL it keeps renewing."""
        return f"{self.prefix}:lease"

    @property
    def epoch(self) -> str:
        """Counter: each new gateway takes the next epoch."""
        return f"{self.prefix}:epoch"

    @property
    def commands(self) -> str:
        """Stream of the engines' requests: add or remove a symbol."""
        return f"{self.prefix}:cmd"

    def engine(self, engine: str) -> str:
        """String with a TTL: engine ``engine``'s requests stand while it keeps this alive."""
        return f"{self.prefix}:engine:{engine}"


FEED_KEYS = FeedKeys()
