"""File → Live data (Alpaca)…: keys go to the keyring and nowhere else; no keyring is explained."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

keyring = pytest.importorskip("keyring")

from keyring.backend import KeyringBackend  # noqa: E402
from keyring.backends import fail  # noqa: E402
from keyring.errors import PasswordDeleteError  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLineEdit  # noqa: E402

from session_monitor.core.credentials import (  # noqa: E402
    ENV_KEY_ID,
    ENV_SECRET_KEY,
    KEY_ID_ENTRY,
    KEYRING_SERVICE,
    SECRET_ENTRY,
    CredentialLookup,
    Credentials,
)
from session_monitor.gui.credentials_dialog import CredentialsDialog, KeyState, describe  # noqa: E402
from session_monitor.gui.settings import AppSettings  # noqa: E402
from tests.gui.gui_helpers import Harness, close_harness  # noqa: E402

KEY_ID = "PKTESTKEY0123456789"
SECRET = "s3cr3t-that-must-never-leak-XYZ"
MakeWindow = Callable[..., Harness]


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict, so tests never touch the user's real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, refuse_writes: bool = False) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.refuse_writes = refuse_writes

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.refuse_writes:
            raise RuntimeError("the wallet is locked")
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture(autouse=True)
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY_ID, raising=False)
    monkeypatch.delenv(ENV_SECRET_KEY, raising=False)


@pytest.fixture
def use_keyring() -> Iterator[Callable[[KeyringBackend], KeyringBackend]]:
    """Install a keyring backend for one test; the previous one comes back afterwards."""
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


def open_dialog(qtbot: Any, h: Harness) -> CredentialsDialog:
    dialog = h.window.show_credentials_dialog()
    qtbot.waitUntil(lambda: dialog.state is not None and not dialog.busy, timeout=5000)
    assert dialog.isVisible()
    return dialog


def test_save_stores_remove_deletes_and_the_secret_never_leaks(
    qtbot: Any,
    make_window: MakeWindow,
    use_keyring: Any,
    settings: AppSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    memory = use_keyring(MemoryKeyring())
    h = make_window()
    dialog = open_dialog(qtbot, h)
    # it says what the window really keeps streaming (this harness replays the "fake" source)
    assert "No Alpaca keys yet" in dialog.status_label.text() and "keeps replaying fake" in dialog.status_label.text()
    assert dialog.secret_edit.echoMode() is QLineEdit.EchoMode.Password
    assert not dialog.save_button.isEnabled() and not dialog.remove_button.isEnabled()

    qtbot.keyClicks(dialog.key_edit, KEY_ID)
    qtbot.keyClicks(dialog.secret_edit, SECRET)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state.stored is not None and not dialog.busy, timeout=5000)

    assert memory.entries == {(KEYRING_SERVICE, KEY_ID_ENTRY): KEY_ID, (KEYRING_SERVICE, SECRET_ENTRY): SECRET}
    assert dialog.key_edit.text() == "" and dialog.secret_edit.text() == ""
    assert "Keys saved in the system keyring (key id PK…89)" in dialog.status_label.text()
    assert dialog.remove_button.isEnabled()
    assert "key id PK…89" in h.window.messages.log.messages()[0].text

    dialog.feed_combo.setCurrentIndex(dialog.feed_combo.findData("sip"))
    assert settings.alpaca_feed() == "sip"

    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state.stored is None and not dialog.busy, timeout=5000)
    assert memory.entries == {}
    assert "No Alpaca keys yet" in dialog.status_label.text()
    assert h.window.messages.log.messages()[0].text == "Alpaca keys removed from the system keyring"

    close_harness(qtbot, h)  # closing writes every setting the window keeps
    ini = (tmp_path / "settings.ini").read_text(encoding="utf-8")
    reopened = AppSettings.at(tmp_path / "settings.ini")
    assert reopened.alpaca_feed() == "sip"
    stored_values = " ".join(str(reopened.store.value(k)) for k in reopened.store.allKeys())
    shown = " ".join(m.text for m in h.window.messages.log.messages())
    for secret in (SECRET, KEY_ID):
        assert secret not in ini and secret not in stored_values
        assert secret not in shown
        assert secret not in caplog.text


def test_without_a_usable_keyring_the_dialog_explains_the_environment_fallback(
    qtbot: Any, make_window: MakeWindow, use_keyring: Any
) -> None:
    use_keyring(fail.Keyring())  # what keyring picks without a desktop session
    h = make_window()
    dialog = open_dialog(qtbot, h)

    text = dialog.status_label.text()
    assert text.startswith("Keys cannot be saved here: no usable system keyring")
    assert ENV_KEY_ID in text and ENV_SECRET_KEY in text and "keeps replaying fake" in text
    assert not dialog.key_edit.isEnabled() and not dialog.secret_edit.isEnabled()
    dialog.key_edit.setText(KEY_ID)
    dialog.secret_edit.setText(SECRET)
    assert not dialog.save_button.isEnabled() and not dialog.remove_button.isEnabled()
    dialog.reject()


def test_a_keyring_that_refuses_the_keys_is_reported_in_one_line(
    qtbot: Any, make_window: MakeWindow, use_keyring: Any
) -> None:
    use_keyring(MemoryKeyring(refuse_writes=True))
    h = make_window()
    dialog = open_dialog(qtbot, h)
    dialog.key_edit.setText(KEY_ID)
    dialog.secret_edit.setText(SECRET)

    task = dialog.on_save()
    qtbot.waitUntil(task.done, timeout=5000)

    newest = h.window.messages.log.messages()[0]
    assert newest.level == logging.WARNING
    assert newest.text.startswith("Alpaca keys not saved: cannot save to the system keyring (RuntimeError")
    assert ENV_KEY_ID in newest.text and SECRET not in newest.text and "\n" not in newest.text
    assert dialog.save_button.isEnabled()  # the finally block gave the buttons back


def test_keys_from_the_environment_are_named_with_a_masked_id() -> None:
    lookup = CredentialLookup(Credentials(KEY_ID, SECRET, "environment"))
    saved = Credentials("PKOTHERKEY999999", "x" * 20, "keyring")

    text = describe(KeyState(lookup, saved, None))
    blocked = describe(KeyState(lookup, None, "no usable system keyring (NoKeyringError: none)"))

    assert text.startswith(f"Using {ENV_KEY_ID} / {ENV_SECRET_KEY} from the environment (key id PK…89)")
    assert "PK…99" in text and KEY_ID not in text and SECRET not in text
    assert "Keys found in the environment (key id PK…89)" in blocked


def test_the_feed_setting_defaults_to_iex_and_refuses_unknown_feeds(settings: AppSettings) -> None:
    assert settings.alpaca_feed() == "iex"
    settings.store.setValue("alpaca/feed", "bogus")
    assert settings.alpaca_feed() == "iex"
    with pytest.raises(ValueError, match="unknown Alpaca feed"):
        settings.set_alpaca_feed("bogus")
