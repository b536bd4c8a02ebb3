"""USM keys and crypto, checked against RFC 3414's test vector and pysnmp as the reference."""

from __future__ import annotations

import hashlib

import pysnmp.hlapi.v3arch.asyncio  # noqa: F401  (initialises pysnmp's modules in order)
import pytest
from pyasn1.type.univ import OctetString
from pysnmp.proto.secmod.eso.priv.aes256 import AesBlumenthal256
from pysnmp.proto.secmod.rfc3414.auth.hmacsha import HmacSha
from pysnmp.proto.secmod.rfc3414.localkey import hash_passphrase, password_to_key
from pysnmp.proto.secmod.rfc3826.priv.aes import Aes
from pysnmp.proto.secmod.rfc7860.auth.hmacsha2 import HmacSha2

from collectors.base import CollectorError, Secret, SnmpCredentials
from collectors.usm import (
    UsmError,
    UsmUser,
    decrypt,
    encrypt,
    extend_key_blumenthal,
    localize_key,
    sign,
    verify,
)

ENGINE = bytes.fromhex("000000000000000000000002")


def test_rfc3414_a3_2_sha_vector() -> None:
    assert localize_key("maplesyrup", ENGINE, "sha1").hex() == (
        "6695febc9288e36282235fc7151f128497b38f3f"
    )


@pytest.mark.parametrize("hash_name, fn", [("sha1", hashlib.sha1), ("sha256", hashlib.sha256)])
def test_localized_keys_match_pysnmp(hash_name: str, fn: object) -> None:
    engine = bytes.fromhex("80001f8880c71100000a0b0c0d")
    assert localize_key("kentongan-key", engine, hash_name) == bytes(
        password_to_key(b"kentongan-key", OctetString(engine), fn)
    )


def test_aes256_key_extension_matches_pysnmp_blumenthal() -> None:
    engine = bytes.fromhex("80001f8880c71100000a0b0c0d")
    ours = extend_key_blumenthal(localize_key("priv-pass", engine, "sha1"), 32, "sha1")
    ref = AesBlumenthal256().localize_key(
        HmacSha.SERVICE_ID,
        bytes(hash_passphrase(b"priv-pass", hashlib.sha1)),
        OctetString(engine),
    )
    assert ours == bytes(ref)


def test_sign_verify_and_tamper() -> None:
    creds = SnmpCredentials("3", user="u", auth="sha256", auth_key=Secret("auth-pass"),
                            priv="aes", priv_key=Secret("priv-pass"))
    keys = UsmUser(creds).keys_for(ENGINE)
    msg = b"head" + bytes(24) + b"tail"
    digest = sign(keys, msg)
    assert len(digest) == 24
    signed = b"head" + digest + b"tail"
    verify(keys, signed, 4, digest)
    with pytest.raises(UsmError):
        verify(keys, b"heaD" + digest + b"tail", 4, digest)
    ref = HmacSha2(HmacSha2.SHA256_SERVICE_ID).authenticate_outgoing_message(
        OctetString(keys.auth_key), msg
    )
    assert ref == signed


def test_aes_matches_pysnmp() -> None:
    creds = SnmpCredentials("3", user="u", auth="sha", auth_key=Secret("auth-pass"),
                            priv="aes", priv_key=Secret("priv-pass"))
    keys = UsmUser(creds).keys_for(ENGINE)
    salt = bytes.fromhex("0102030405060708")
    plain = b"\x30\x0b" + b"scoped-pdu!"
    ct = encrypt(keys, 7, 1234, salt, plain)
    assert decrypt(keys, 7, 1234, salt, ct) == plain
    ref_plain = Aes().decrypt_data(
        OctetString(keys.priv_key), (7, 1234, OctetString(salt)), OctetString(ct)
    )
    assert bytes(ref_plain) == plain


def test_user_validation() -> None:
    with pytest.raises(CollectorError):
        UsmUser(SnmpCredentials("3", user="u", auth="md5", auth_key=Secret("x" * 8)))
    with pytest.raises(CollectorError):
        UsmUser(SnmpCredentials("3", user="u", auth="sha", auth_key=None))
    with pytest.raises(CollectorError):
        UsmUser(SnmpCredentials("3", user="u", priv="aes", priv_key=Secret("x" * 8)))


def test_secrets_do_not_show_in_repr() -> None:
    creds = SnmpCredentials("3", user="u", auth="sha", auth_key=Secret("top-secret-1"),
                            priv="aes", priv_key=Secret("top-secret-2"))
    assert "top-secret" not in repr(creds)
    assert "top-secret" not in repr(UsmUser(creds).__slots__)
