"""File → Live data (Alpaca)…: save or remove the Alpaca key pair, choose the feed.

The keys go to the system keyring through ``core.credentials`` and nowhere else: not
QSettings, not the messages dock (only a masked key id), not the log. Keyring calls run
in an executor because a locked wallet can block on an unlock prompt. The feed choice is
an ordinary setting (``AppSettings.alpaca_feed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from session_monitor.core.credentials import (
    ENV_KEY_ID,
    ENV_SECRET_KEY,
    CredentialLookup,
    Credentials,
    CredentialsError,
    delete_credentials,
    keyring_problem,
    load_credentials,
    mask,
    save_credentials,
)
from session_monitor.gui.handlers import RunningHandlers
from session_monitor.gui.settings import ALPACA_FEEDS, AppSettings

__all__ = ["CredentialsDialog", "KeyState", "describe", "read_key_state"]

Notify = Callable[[int, str], None]
FEED_LABELS = {"iex": "iex — free plan (IEX exchange only)", "sip": "sip — all US exchanges (paid plan)"}
ENV_HINT = f"set {ENV_KEY_ID} and {ENV_SECRET_KEY} in the environment before starting Session Monitor"


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the app would use (``active``), what the keyring holds, and why a keyring is unusable."""

    active: CredentialLookup
    stored: Credentials | None
    problem: str | None


def read_key_state() -> KeyState:
    """Blocking (keyring I/O): run it in an executor."""
    problem = keyring_problem()
    stored = None if problem else load_credentials({}).credentials  # no environment: the keyring alone
    return KeyState(load_credentials(), stored, problem)


def running_feed(source_name: str) -> str:
    """What the window streams now, in plain words (what it stays on without keys)."""
    name = source_name.strip()
    if not name or name.lower() == "demo" or name.lower().startswith("demo:"):
        return "the built-in demo feed (simulated prices)"
    if name.lower().startswith("alpaca"):
        return "the Alpaca feed it started with"
    return f"replaying {Path(name).name or name}"


def describe(state: KeyState, running: str = "the built-in demo feed (simulated prices)") -> str:
    """The dialog's explanation: where the keys come from, or how to add them; ``running``
    says what the window keeps streaming until there are keys."""
    active = state.active.credentials
    if state.problem:
        found = (
            f" Keys found in the environment (key id {mask(active.api_key)})."
            if active
            else f" Until then Session Monitor keeps {running}."
        )
        return f"Keys cannot be saved here: {state.problem}. Instead, {ENV_HINT}.{found}"
    if active is not None and active.origin == "environment":
        saved = f" The keyring also holds key id {mask(state.stored.api_key)}." if state.stored else ""
        return (
            f"Using {ENV_KEY_ID} / {ENV_SECRET_KEY} from the environment (key id {mask(active.api_key)}); "
            f"they take precedence over keys saved here.{saved}"
        )
    if active is not None:
        return (
            f"Keys saved in the system keyring (key id {mask(active.api_key)}). "
            "Enter a new pair and Save to replace them, or Remove them."
        )
    return (
        f"No Alpaca keys yet, so no live data: Session Monitor keeps {running}. To add keys, create an "
        "API key on alpaca.markets (paper or live account), enter the key id and secret below and press "
        f"Save: they are kept in the system keyring. Or {ENV_HINT}. Then start it with "
        "`session-monitor alpaca`."
    )


def _saver(key: str, secret: str) -> Callable[[], None]:
    """A closure rather than ``run_in_executor(None, save_credentials, key, secret)``: qasync's
    executor logs each callback with its arguments at DEBUG level, which would print the secret."""

    def save() -> None:
        save_credentials(key, secret)

    return save


class CredentialsDialog(QDialog):
    """Key id, secret (never echoed), feed; Save and Remove work on the system keyring."""

    #: the explanation and buttons now match what the keyring and environment hold
    refreshed = Signal()

    def __init__(
        self, settings: AppSettings, notify: Notify, parent: QWidget | None = None, running: str | None = None
    ) -> None:
        super().__init__(parent)
        #: what the window streams now (the explanation says it stays on it without keys)
        self.running = running or running_feed("demo")
        self.setWindowTitle("Live data (Alpaca)")
        self.settings = settings
        self.notify = notify
        self.state: KeyState | None = None
        self._busy = False
        self._handlers = RunningHandlers()
        self.status_label = QLabel("Checking the system keyring…", self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setMinimumWidth(440)
        self.key_edit = QLineEdit(self)
        self.key_edit.setPlaceholderText("e.g. PK…")
        self.secret_edit = QLineEdit(self)
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.feed_combo = QComboBox(self)
        for feed in ALPACA_FEEDS:
            self.feed_combo.addItem(FEED_LABELS.get(feed, feed), feed)
        self.feed_combo.setCurrentIndex(self.feed_combo.findData(settings.alpaca_feed()))
        self.save_button = QPushButton("Save", self)
        self.remove_button = QPushButton("Remove", self)
        self.save_button.setToolTip("Store the key pair in the system keyring")
        self.remove_button.setToolTip("Delete the saved key pair from the system keyring")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("API key ID", self.key_edit)
        form.addRow("Secret key", self.secret_edit)
        form.addRow("Data feed", self.feed_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addLayout(form)
        layout.addWidget(buttons)

        self.key_edit.textChanged.connect(self._update_buttons)
        self.secret_edit.textChanged.connect(self._update_buttons)
        self.feed_combo.currentIndexChanged.connect(self._on_feed_changed)
        self.save_button.clicked.connect(self.on_save)
        self.remove_button.clicked.connect(self.on_remove)
        self._update_buttons()

    # -- handlers --------------------------------------------------------------------------
    @asyncSlot()
    async def refresh(self) -> None:
        """Re-read the keyring and environment (each time the dialog is shown)."""
        self._enter()
        try:
            await self._refresh()
        finally:
            self._leave()

    @asyncSlot()
    async def on_save(self) -> None:
        key, secret = self.key_edit.text(), self.secret_edit.text()
        self._enter()
        try:
            await asyncio.get_running_loop().run_in_executor(None, _saver(key, secret))
        except CredentialsError as exc:
            self.notify(logging.WARNING, f"Alpaca keys not saved: {exc}")
        else:
            self.key_edit.clear()
            self.secret_edit.clear()
            self.notify(logging.INFO, f"Alpaca keys saved in the system keyring (key id {mask(key.strip())})")
            await self._refresh()
        finally:
            self._leave()

    @asyncSlot()
    async def on_remove(self) -> None:
        self._enter()
        try:
            await asyncio.get_running_loop().run_in_executor(None, delete_credentials)
        except CredentialsError as exc:
            self.notify(logging.WARNING, f"Alpaca keys not removed: {exc}")
        else:
            self.notify(logging.INFO, "Alpaca keys removed from the system keyring")
            await self._refresh()
        finally:
            self._leave()

    async def _refresh(self) -> None:
        self.state = await asyncio.get_running_loop().run_in_executor(None, read_key_state)
        self.status_label.setText(describe(self.state, self.running))
        self._update_buttons()
        self.adjustSize()  # the explanation's length varies; a word-wrapped label does not resize the dialog
        self.refreshed.emit()

    def _on_feed_changed(self, index: int) -> None:
        self.settings.set_alpaca_feed(str(self.feed_combo.itemData(index)))

    # -- busy state and shutdown -------------------------------------------------------------
    def _enter(self) -> None:
        self._handlers.enter()
        self._busy = True
        self._update_buttons()

    def _leave(self) -> None:
        self._handlers.leave()
        self._busy = bool(self._handlers)
        self._update_buttons()

    @property
    def busy(self) -> bool:
        return self._busy

    def _update_buttons(self) -> None:
        usable = self.state is not None and self.state.problem is None
        filled = bool(self.key_edit.text().strip() and self.secret_edit.text().strip())
        self.save_button.setEnabled(not self._busy and usable and filled)
        stored = self.state is not None and self.state.stored is not None
        self.remove_button.setEnabled(not self._busy and usable and stored)
        for edit in (self.key_edit, self.secret_edit):
            edit.setEnabled(self.state is None or usable)

    async def shutdown(self) -> None:
        """Before the window goes away: a keyring call still pending must not touch deleted widgets."""
        await self._handlers.cancel_all()
