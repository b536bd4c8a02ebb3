"""SNMPv3 User-based Security Model (RFC 3414, RFC 3826, RFC 7860) for the fast SNMP path.

Authentication: HMAC-SHA-96 (``sha``) and HMAC-SHA-256-192 (``sha256``).
Privacy: AES-128-CFB (``aes``, RFC 3826) and AES-256-CFB (``aes256``, key extension as in
draft-blumenthal-aes-usm-04, which is what net-snmp calls ``AES-256``).

Keys: the expensive password-to-key step (hashing one megabyte) depends only on the
password and the hash, so it is cached process-wide; localisation to an agent's engine ID
is one short hash and cached per engine. Secrets stay inside :class:`collectors.base.Secret`
until this module derives keys from them; derived keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 47 keeps CFB among the "decrepit" modes
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[assignment,unused-ignore]

from collectors.base import CollectorError, Secret, SnmpCredentials

logger = logging.getLogger(__name__)

FLAG_AUTH = 0x01
FLAG_PRIV = 0x02
FLAG_REPORTABLE = 0x04

_HASHES = {"sha": ("sha1", 12), "sha1": ("sha1", 12), "sha256": ("sha256", 24)}
_PRIV_KEY_SIZES = {"aes": 16, "aes128": 16, "aes256": 32}

# usmStats counters an agent reports (1.3.6.1.6.3.15.1.1.N.0) and what they mean for a poll.
USM_STATS_REASONS = {
    1: "unsupported security level",
    2: "not in time window",
    3: "unknown user name",
    4: "unknown engine id",
    5: "authentication failed",
    6: "decryption failed",
}


class UsmError(CollectorError):
    """A message failed USM processing (bad digest, undecryptable data)."""


@lru_cache(maxsize=256)
def _password_to_key(password: str, hash_name: str) -> bytes:
    """RFC 3414 A.2: hash 1 MiB of the repeated password (cached: it costs milliseconds)."""
    pw = password.encode()
    if not pw:
        raise UsmError("empty SNMPv3 key")
    data = (pw * (1048576 // len(pw) + 1))[:1048576]
    return hashlib.new(hash_name, data).digest()


def localize_key(password: str, engine_id: bytes, hash_name: str) -> bytes:
    """Localise a password to an authoritative engine (RFC 3414 section 2.6)."""
    ku = _password_to_key(password, hash_name)
    return hashlib.new(hash_name, ku + engine_id + ku).digest()


def extend_key_blumenthal(kul: bytes, size: int, hash_name: str) -> bytes:
    """Extend a localised key to ``size`` bytes: Kul' = Kul || H(Kul) || H(Kul') …"""
    key = kul
    while len(key) < size:
        key += hashlib.new(hash_name, key).digest()
    return key[:size]


@dataclass(slots=True)
class UsmKeys:
    """Localised keys of one user at one engine."""

    hash_name: str
    digest_len: int
    auth_key: bytes | None
    priv_key: bytes | None


class UsmUser:
    """One SNMPv3 user's settings, validated once."""

    __slots__ = ("_auth_key", "_keys", "_lock", "_priv_key", "auth", "name", "priv")

    def __init__(self, creds: SnmpCredentials) -> None:
        if not creds.user:
            raise CollectorError("SNMPv3 credentials without a user name")
        self.name = creds.user.encode()
        self.auth = (creds.auth or "").lower() or None
        self.priv = (creds.priv or "").lower() or None
        if self.auth is not None and self.auth not in _HASHES:
            raise CollectorError(f"unsupported SNMPv3 auth protocol {creds.auth!r}")
        if self.priv is not None and self.priv not in _PRIV_KEY_SIZES:
            raise CollectorError(f"unsupported SNMPv3 priv protocol {creds.priv!r}")
        if self.priv is not None and self.auth is None:
            raise CollectorError("SNMPv3 privacy requires authentication")
        if self.auth is not None and creds.auth_key is None:
            raise CollectorError("SNMPv3 auth protocol set but no auth key")
        if self.priv is not None and creds.priv_key is None:
            raise CollectorError("SNMPv3 priv protocol set but no priv key")
        self._auth_key: Secret | None = creds.auth_key
        self._priv_key: Secret | None = creds.priv_key
        self._keys: dict[bytes, UsmKeys] = {}
        self._lock = threading.Lock()

    @property
    def flags(self) -> int:
        """msgFlags for this user's requests (reportable always set)."""
        f = FLAG_REPORTABLE
        if self.auth:
            f |= FLAG_AUTH
        if self.priv:
            f |= FLAG_PRIV
        return f

    def keys_for(self, engine_id: bytes) -> UsmKeys:
        """Localised keys at ``engine_id`` (cached)."""
        keys = self._keys.get(engine_id)
        if keys is not None:
            return keys
        if self.auth is None:
            keys = UsmKeys("sha1", 0, None, None)
        else:
            hash_name, dlen = _HASHES[self.auth]
            assert self._auth_key is not None
            auth_key = localize_key(self._auth_key.get(), engine_id, hash_name)
            priv_key = None
            if self.priv is not None:
                assert self._priv_key is not None
                size = _PRIV_KEY_SIZES[self.priv]
                kul = localize_key(self._priv_key.get(), engine_id, hash_name)
                priv_key = extend_key_blumenthal(kul, size, hash_name)
            keys = UsmKeys(hash_name, dlen, auth_key, priv_key)
        with self._lock:
            self._keys[engine_id] = keys
        return keys


def sign(keys: UsmKeys, whole_msg: bytes) -> bytes:
    """The truncated HMAC of a message whose auth parameters are zero-filled."""
    assert keys.auth_key is not None
    return hmac.new(keys.auth_key, whole_msg, keys.hash_name).digest()[: keys.digest_len]


def verify(keys: UsmKeys, data: bytes, auth_offset: int, auth_params: bytes) -> None:
    """Check a received message's digest; raise :class:`UsmError` when it does not match."""
    n = keys.digest_len
    if len(auth_params) != n:
        raise UsmError(f"authentication parameters of {len(auth_params)} bytes, expected {n}")
    zeroed = data[:auth_offset] + bytes(n) + data[auth_offset + n :]
    if not hmac.compare_digest(sign(keys, zeroed), auth_params):
        raise UsmError("reply failed authentication (wrong key or tampered)")


class SaltCounter:
    """A 64-bit salt that starts random and increments per encrypted message (RFC 3826)."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = int.from_bytes(os.urandom(8), "big")

    def next(self) -> bytes:
        """The next salt (8 bytes)."""
        self._value = (self._value + 1) & 0xFFFFFFFFFFFFFFFF
        return self._value.to_bytes(8, "big")


def _aes(keys: UsmKeys, boots: int, etime: int, salt: bytes) -> Cipher[CFB]:
    assert keys.priv_key is not None
    if len(salt) != 8:
        raise UsmError(f"privacy parameters of {len(salt)} bytes, expected 8")
    iv = boots.to_bytes(4, "big") + etime.to_bytes(4, "big") + salt
    return Cipher(algorithms.AES(keys.priv_key), CFB(iv))


def encrypt(keys: UsmKeys, boots: int, etime: int, salt: bytes, plaintext: bytes) -> bytes:
    """AES-CFB128 encryption of a ScopedPDU (RFC 3826 section 3.1.3)."""
    enc = _aes(keys, boots, etime, salt).encryptor()
    return enc.update(plaintext) + enc.finalize()


def decrypt(keys: UsmKeys, boots: int, etime: int, salt: bytes, ciphertext: bytes) -> bytes:
    """AES-CFB128 decryption of an encryptedPDU."""
    try:
        dec = _aes(keys, boots & 0xFFFFFFFF, etime & 0xFFFFFFFF, salt).decryptor()
    except ValueError as exc:
        raise UsmError(f"cannot decrypt: {exc}") from exc
    return dec.update(ciphertext) + dec.finalize()
