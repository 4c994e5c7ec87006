"""Alpaca API keys: from the SDK's environment variables or the system keyring, never plain text.

A key pair reads (and with a trading key, trades) a brokerage account, so it never goes
into the settings file or a log: values are masked in ``repr``, and the only stores are
the environment (``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``, what alpaca-py itself
reads) and the system keyring (service ``session-monitor``). The environment wins, so a
shell can override what the keyring holds. Without a usable keyring (no desktop session,
``keyring`` not installed) the lookup says why, so the GUI can show it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

__all__ = [
    "ENV_KEY_ID",
    "ENV_SECRET_KEY",
    "KEYRING_SERVICE",
    "KEY_ID_ENTRY",
    "SECRET_ENTRY",
    "CredentialLookup",
    "Credentials",
    "CredentialsError",
    "delete_credentials",
    "keyring_problem",
    "load_credentials",
    "mask",
    "save_credentials",
]

ENV_KEY_ID = "APCA_API_KEY_ID"
ENV_SECRET_KEY = "APCA_API_SECRET_KEY"
KEYRING_SERVICE = "session-monitor"
#: keyring user names under the service
KEY_ID_ENTRY = "alpaca-api-key-id"
SECRET_ENTRY = "alpaca-secret-key"


class CredentialsError(Exception):
    """The keys cannot be stored or removed (no usable keyring); one line for the user."""


def mask(text: str) -> str:
    """Enough of a key id to tell two apart, never enough to use it."""
    return f"{text[:2]}…{text[-2:]}" if len(text) >= 10 else "****"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """An Alpaca key pair and where it came from (``environment`` or ``keyring``)."""

    api_key: str
    secret_key: str
    origin: str

    def __repr__(self) -> str:
        return f"Credentials(api_key={mask(self.api_key)!r}, secret_key='****', origin={self.origin!r})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class CredentialLookup:
    """The keys found (or None) and, when the keyring could not be used, why (for the GUI)."""

    credentials: Credentials | None
    note: str | None = None


def _keyring() -> ModuleType:
    """Imported late: keyring is part of the optional ``alpaca`` extra."""
    import keyring

    return keyring


def keyring_problem() -> str | None:
    """None when the system keyring can be read, else a one-line reason."""
    try:
        keyring = _keyring()
    except ImportError:
        return "the keyring package is not installed"
    try:
        keyring.get_password(KEYRING_SERVICE, KEY_ID_ENTRY)
    except Exception as exc:  # NoKeyringError (fail backend), D-Bus/SecretService errors, locked wallets …
        return f"no usable system keyring ({type(exc).__name__}: {exc})"
    return None


def _from_keyring() -> tuple[Credentials | None, str | None]:
    try:
        keyring = _keyring()
    except ImportError:
        return None, "the keyring package is not installed"
    try:
        key = keyring.get_password(KEYRING_SERVICE, KEY_ID_ENTRY)
        secret = keyring.get_password(KEYRING_SERVICE, SECRET_ENTRY)
    except Exception as exc:
        return None, f"no usable system keyring ({type(exc).__name__}: {exc})"
    if key and secret:
        return Credentials(key, secret, "keyring"), None
    return None, None


def load_credentials(environ: Mapping[str, str] | None = None) -> CredentialLookup:
    """The environment's keys if both are set, else the keyring's; ``note`` explains a fallback."""
    env = os.environ if environ is None else environ
    key, secret = env.get(ENV_KEY_ID, "").strip(), env.get(ENV_SECRET_KEY, "").strip()
    if key and secret:
        problem = keyring_problem()
        note = f"{problem}: using {ENV_KEY_ID} and {ENV_SECRET_KEY} from the environment" if problem else None
        return CredentialLookup(Credentials(key, secret, "environment"), note)
    found, problem = _from_keyring()
    if found is not None:
        return CredentialLookup(found)
    if problem:
        return CredentialLookup(None, f"{problem}: set {ENV_KEY_ID} and {ENV_SECRET_KEY} instead")
    half = " (only one of them is set)" if key or secret else ""
    where = f"save them in the settings (system keyring) or set {ENV_KEY_ID} and {ENV_SECRET_KEY}"
    return CredentialLookup(None, f"no Alpaca keys: {where}{half}")


def save_credentials(api_key: str, secret_key: str) -> None:
    """Store the pair in the system keyring; CredentialsError when there is none."""
    api_key, secret_key = api_key.strip(), secret_key.strip()
    if not api_key or not secret_key:
        raise CredentialsError("both the API key id and the secret key are needed")
    try:
        keyring = _keyring()
    except ImportError:
        raise CredentialsError(
            f"the keyring package is not installed: set {ENV_KEY_ID} and {ENV_SECRET_KEY} instead"
        ) from None
    try:
        keyring.set_password(KEYRING_SERVICE, KEY_ID_ENTRY, api_key)
        keyring.set_password(KEYRING_SERVICE, SECRET_ENTRY, secret_key)
    except Exception as exc:
        raise CredentialsError(
            f"cannot save to the system keyring ({type(exc).__name__}: {exc}): "
            f"set {ENV_KEY_ID} and {ENV_SECRET_KEY} instead"
        ) from None


def delete_credentials() -> None:
    """Remove the pair from the keyring (missing entries are fine)."""
    try:
        keyring = _keyring()
        from keyring.errors import PasswordDeleteError
    except ImportError:
        return
    for entry in (KEY_ID_ENTRY, SECRET_ENTRY):
        try:
            keyring.delete_password(KEYRING_SERVICE, entry)
        except PasswordDeleteError:
            pass
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise CredentialsError(f"cannot remove the keys from the system keyring ({why})") from None
