"""Opening the recording of a run, shared by ``replay`` and the GUI.

Recording is an aid, never a reason not to run: when it cannot start (the data directory
is a file, read-only or full; another instance records the same source) the run goes on
unrecorded and the user gets one line naming the path and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from session_monitor.core.recording import (
    Recorder,
    RecordingBusy,
    RecordingScope,
    RecordingUnavailable,
    default_recording_path,
)

__all__ = ["RecordingStart", "start_recording"]


@dataclass(frozen=True, slots=True)
class RecordingStart:
    """The recorder of a run (None: recording is off) and the line that tells the user why."""

    recorder: Recorder | None
    message: str

    @property
    def off(self) -> bool:
        return self.recorder is None


def start_recording(source_key: str, calendar: str, label: str = "", path: Path | None = None) -> RecordingStart:
    """Claim the recording of ``source_key`` on ``calendar`` (under ``label`` when given)."""
    path = path or default_recording_path()
    scope = RecordingScope(source_key, calendar).labelled(label)
    try:
        recorder = Recorder(path, scope)
    except RecordingBusy as exc:
        return RecordingStart(
            None,
            f"recording is off: {exc}; this run is not recorded "
            "(--record-as NAME records it under a key of its own)",
        )
    except RecordingUnavailable as exc:
        return RecordingStart(None, f"recording is off: {exc}")
    if recorder.resumable:
        return RecordingStart(
            recorder, f"recording to {path}; the last run of {scope.describe()} ended uncleanly: resuming it"
        )
    return RecordingStart(recorder, f"recording to {path}")
