"""Personal data in events, encrypted with a key per person (crypto-shredding).

An event names its personal fields and whose they are with two class attributes:

    @dataclass(frozen=True)
    class AccountRegistered:
        event_type: ClassVar[str] = "accounts.AccountRegistered"
        schema_version: ClassVar[int] = 1
        personal_data: ClassVar[tuple[str, ...]] = ("email",)
        data_subject: ClassVar[str] = "account_id"      # the field naming the person
        account_id: str
        email: str

Serialization (`eventstore.serialization`) encrypts those fields whenever an event is written
anywhere outside memory: the event table, the Kafka log, side-effect jobs, dead letters all hold
`pii:v1:<subject>:<AES-GCM ciphertext>`. Reading decrypts them with the person's key. Erasing a
person deletes the key (`forget`): every stored copy becomes unreadable at once, without
rewriting the immutable log, and reads show ERASED in place of each personal field.

Keys live in their own table (es_subject_key, eventstore.postgres.PostgresKeyVault), never in
the log. They are not cached across calls, so a worker never decrypts with a key that was
deleted a moment ago.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "pii:v1:"
ERASED = "[erased]"
_NONCE = 12


class KeyVault(Protocol):
    def key_for(self, subject: str) -> bytes:
        """The subject's key, created on first use."""

    def existing_keys(self, subjects: Iterable[str]) -> dict[str, bytes]:
        """The keys that exist (an erased subject has none)."""

    def forget(self, subject: str) -> bool:
        """Delete the subject's key; True if there was one."""


class MemoryKeyVault:
    """For unit tests with the in-memory store."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key_for(self, subject: str) -> bytes:
        with self._lock:
            return self.keys.setdefault(subject, os.urandom(32))

    def existing_keys(self, subjects: Iterable[str]) -> dict[str, bytes]:
        return {s: self.keys[s] for s in subjects if s in self.keys}

    def forget(self, subject: str) -> bool:
        return self.keys.pop(subject, None) is not None


_vault: KeyVault | None = None


def vault() -> KeyVault:
    if _vault is None:
        raise RuntimeError("no key vault is installed: config.wiring.wire() installs it")
    return _vault


def set_vault(new: KeyVault | None) -> KeyVault | None:
    """Install the vault (config/wiring.py; tests swap it); returns the one it replaces."""
    global _vault
    previous, _vault = _vault, new
    return previous


def personal_fields(cls: type) -> tuple[str, ...]:
    return tuple(getattr(cls, "personal_data", ()))


def protect(event: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Encrypt the event's personal fields in its serialized form `data`."""
    fields = personal_fields(type(event))
    if not fields:
        return data
    subject = str(data[type(event).data_subject])
    if ":" in subject:
        raise ValueError(f"a data subject id may not contain ':' ({subject!r})")
    cipher = AESGCM(vault().key_for(subject))
    out = dict(data)
    for name in fields:
        value = out.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(f"personal field {type(event).__name__}.{name} must be a string")
        nonce = os.urandom(_NONCE)
        sealed = cipher.encrypt(nonce, value.encode(), subject.encode())
        out[name] = f"{PREFIX}{subject}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"
    return out


def _parse(value: object) -> tuple[str, bytes] | None:
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    subject, _, blob = value[len(PREFIX) :].partition(":")
    try:
        return subject, base64.urlsafe_b64decode(blob)
    except (binascii.Error, ValueError):
        return None


def reveal(data: dict[str, Any]) -> dict[str, Any]:
    """Decrypt the encrypted fields of a stored payload; ERASED where the key is gone."""
    sealed = {name: parsed for name, v in data.items() if (parsed := _parse(v)) is not None}
    if not sealed:
        return data
    keys = vault().existing_keys(subject for subject, _ in sealed.values())
    out = dict(data)
    for name, (subject, blob) in sealed.items():
        key = keys.get(subject)
        if key is None:
            out[name] = ERASED
            continue
        try:
            out[name] = AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], subject.encode()).decode()
        except InvalidTag:
            out[name] = ERASED
    return out


def forget(subject: str) -> bool:
    return vault().forget(subject)
