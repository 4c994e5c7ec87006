"""Core events: plain and batch subscribers see the same changes, in order."""

from __future__ import annotations

from session_monitor.core.events import Event


def test_batch_subscribers_get_one_call_per_batch_and_plain_ones_one_per_item() -> None:
    event = Event("bars_changed")
    assert not event
    plain: list[tuple] = []
    batches: list[list[tuple]] = []
    event.connect(lambda *args: plain.append(args))
    event.connect_batch(lambda items: batches.append(list(items)))
    assert event
    event.emit_many([("A", "1m", 3), ("B", "5m", 0)])
    event.emit("A", "1m", 4)
    event.emit_many([])
    assert plain == [("A", "1m", 3), ("B", "5m", 0), ("A", "1m", 4)]
    assert batches == [[("A", "1m", 3), ("B", "5m", 0)], [("A", "1m", 4)]]


def test_a_callback_that_disconnects_while_called_does_not_disturb_the_others() -> None:
    event = Event("message")
    seen: list[str] = []

    def once(*args: object) -> None:
        seen.append("once")
        event.disconnect(once)

    def batch(items: list[tuple]) -> None:
        seen.append(f"batch {len(items)}")
        event.disconnect(batch)

    event.connect(once)
    event.connect(lambda *args: seen.append("always"))
    event.connect_batch(batch)
    event.emit_many([(1,), (2,)])
    event.emit(3)
    assert seen == ["once", "always", "always", "batch 2", "always"]
    assert event  # the plain "always" is still connected
