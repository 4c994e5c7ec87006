"""Alpaca keys come from the environment or the system keyring, never in clear text."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

pytest.importorskip("keyring")

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from session_monitor.core.credentials import (
    ENV_KEY_ID,
    ENV_SECRET_KEY,
    KEYRING_SERVICE,
    Credentials,
    CredentialsError,
    delete_credentials,
    keyring_problem,
    load_credentials,
    mask,
    save_credentials,
)

KEY_ID = "PKABCDEFGHIJ1234"
SECRET = "s3cr3t-never-shown-anywhere"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict, so tests never touch the user's real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # what keyring picks without a desktop session
    yield
    keyring.set_keyring(previous)


def test_saved_keys_come_back_from_the_keyring_under_the_app_service(memory: MemoryKeyring) -> None:
    save_credentials(f" {KEY_ID} ", SECRET)
    assert {service for service, _ in memory.entries} == {KEYRING_SERVICE}
    found = load_credentials({})
    assert found.credentials == Credentials(KEY_ID, SECRET, "keyring") and found.note is None
    delete_credentials()
    delete_credentials()  # nothing left: still fine
    assert memory.entries == {}
    assert load_credentials({}).credentials is None


def test_the_environment_wins_over_the_keyring(memory: MemoryKeyring) -> None:
    save_credentials("PKFROMKEYRING000", "keyring-secret")
    found = load_credentials({ENV_KEY_ID: KEY_ID, ENV_SECRET_KEY: SECRET})
    assert found.credentials == Credentials(KEY_ID, SECRET, "environment") and found.note is None


def test_without_a_usable_keyring_the_environment_is_used_and_the_reason_given(no_keyring: None) -> None:
    assert "no usable system keyring (NoKeyringError" in (keyring_problem() or "")
    found = load_credentials({ENV_KEY_ID: KEY_ID, ENV_SECRET_KEY: SECRET})
    assert found.credentials == Credentials(KEY_ID, SECRET, "environment")
    assert found.note is not None and found.note.startswith("no usable system keyring (NoKeyringError")
    assert found.note.endswith(f"using {ENV_KEY_ID} and {ENV_SECRET_KEY} from the environment")
    nothing = load_credentials({})
    assert nothing.credentials is None and nothing.note is not None
    assert nothing.note.endswith(f"set {ENV_KEY_ID} and {ENV_SECRET_KEY} instead")
    with pytest.raises(CredentialsError, match="cannot save to the system keyring"):
        save_credentials(KEY_ID, SECRET)


def test_no_keys_anywhere_says_where_to_put_them(memory: MemoryKeyring) -> None:
    found = load_credentials({ENV_KEY_ID: KEY_ID})
    assert found.credentials is None
    assert found.note == (
        f"no Alpaca keys: save them in the settings (system keyring) or set {ENV_KEY_ID} and {ENV_SECRET_KEY} "
        "(only one of them is set)"
    )
    with pytest.raises(CredentialsError, match="both the API key id and the secret key"):
        save_credentials(KEY_ID, "  ")


def test_the_process_environment_is_read_by_default(memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY_ID, KEY_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, SECRET)
    assert load_credentials().credentials == Credentials(KEY_ID, SECRET, "environment")


def test_keys_are_masked_in_repr_str_and_logs(memory: MemoryKeyring, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    save_credentials(KEY_ID, SECRET)
    found = load_credentials({})
    logging.getLogger("test").info("loaded %s / %r / %s", found.credentials, found.credentials, found)
    for text in (repr(found.credentials), str(found.credentials), repr(found), caplog.text):
        assert SECRET not in text and KEY_ID not in text
    assert mask(KEY_ID) == "PK…34" and mask("short") == "****"


def test_without_the_keyring_package_the_environment_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)
    assert keyring_problem() == "the keyring package is not installed"
    found = load_credentials({ENV_KEY_ID: KEY_ID, ENV_SECRET_KEY: SECRET})
    assert found.credentials is not None and found.note is not None
    assert load_credentials({}).note == (
        f"the keyring package is not installed: set {ENV_KEY_ID} and {ENV_SECRET_KEY} instead"
    )
    with pytest.raises(CredentialsError, match="keyring package is not installed"):
        save_credentials(KEY_ID, SECRET)
    delete_credentials()  # nothing to delete, no error
