"""SNMP sessions: how one v2c community or one v3 user at one engine writes and reads messages.

Requests are written and replies read by the specialised BER codec in :mod:`collectors.ber`
and, for SNMPv3, the USM in :mod:`collectors.usm`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from collectors import ber
from collectors.usm import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    USM_STATS_REASONS,
    SaltCounter,
    UsmError,
    UsmUser,
    decrypt,
    encrypt,
    sign,
    verify,
)


class V2cSession:
    """Builds and reads v2c messages for one community."""

    __slots__ = ("community", "prefix")

    def __init__(self, community: bytes) -> None:
        self.community = community
        self.prefix = ber.encode_integer(1) + ber.encode_tlv(ber.OCTET_STRING, community)

    def build(self, rid: int, tag: int, a: int, b: int, vbl: bytes) -> bytes:
        return ber.encode_tlv(ber.SEQUENCE, self.prefix + ber.encode_pdu(tag, rid, a, b, vbl))

    def decode(self, data: bytes) -> ber.Pdu:
        msg = ber.decode_v2c_message(data)
        if msg.community != self.community:
            raise ber.BerError("reply with a different community")
        if msg.pdu.tag != ber.RESPONSE:
            raise ber.BerError(f"not a Response PDU (tag 0x{msg.pdu.tag:02x})")
        msg.pdu.size = len(data)
        return msg.pdu


@dataclass(slots=True)
class Engine:
    """What we know of one authoritative SNMPv3 engine (an agent)."""

    engine_id: bytes = b""
    boots: int = 0
    time: int = 0
    ref: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def known(self) -> bool:
        return bool(self.engine_id)

    def now(self) -> int:
        return self.time + int(time.monotonic() - self.ref)

    def update(self, boots: int, etime: int) -> None:
        self.boots = boots
        self.time = etime
        self.ref = time.monotonic()


@dataclass(slots=True)
class V3Reply:
    pdu: ber.Pdu
    engine_id: bytes
    boots: int
    time: int
    authenticated: bool


class V3Session:
    """Builds and reads USM messages for one user at one engine."""

    __slots__ = ("engine", "salt", "user")

    def __init__(self, user: UsmUser, engine: Engine, salt: SaltCounter) -> None:
        self.user = user
        self.engine = engine
        self.salt = salt

    def build_discovery(self, rid: int) -> bytes:
        pdu = ber.encode_pdu(ber.GET_REQUEST, rid, 0, 0, ber.encode_varbinds(()))
        usm = ber.encode_usm_params(b"", 0, 0, b"", b"", b"")
        return ber.encode_v3_message(
            rid, 65507, FLAG_REPORTABLE, usm, ber.encode_scoped_pdu(b"", b"", pdu)
        )

    def build(self, rid: int, tag: int, a: int, b: int, vbl: bytes) -> bytes:
        eng = self.engine
        user = self.user
        keys = user.keys_for(eng.engine_id)
        boots, etime = eng.boots, eng.now()
        scoped = ber.encode_scoped_pdu(eng.engine_id, b"", ber.encode_pdu(tag, rid, a, b, vbl))
        priv = b""
        if user.priv:
            priv = self.salt.next()
            msg_data = ber.encode_tlv(ber.OCTET_STRING, encrypt(keys, boots, etime, priv, scoped))
        else:
            msg_data = scoped
        auth_zero = bytes(keys.digest_len)
        usm = ber.encode_usm_params(eng.engine_id, boots, etime, user.name, auth_zero, priv)
        msg = ber.encode_v3_message(rid, 65507, user.flags, usm, msg_data)
        if not user.auth:
            return msg
        # msgAuthenticationParameters sit right before the last field of the USM parameters
        # (privParams, a 2-byte header plus the salt), which end where msgData starts.
        pos = len(msg) - len(msg_data) - (2 + len(priv)) - keys.digest_len
        return msg[:pos] + sign(keys, msg) + msg[pos + keys.digest_len :]

    def decode(self, data: bytes) -> V3Reply:
        m = ber.decode_v3_message(data)
        authenticated = bool(m.flags & FLAG_AUTH)
        if authenticated:
            if not self.user.auth:
                raise UsmError("authenticated reply to a noAuth user")
            keys = self.user.keys_for(m.engine_id)
            verify(keys, data, m.auth_offset, m.auth_params)
            if m.flags & FLAG_PRIV:
                if m.data_tag != ber.OCTET_STRING:
                    raise UsmError("encrypted flag set but data is not an OCTET STRING")
                content = ber.unwrap_sequence(
                    decrypt(keys, m.engine_boots, m.engine_time, m.priv_params, m.data)
                )
            else:
                content = m.data
        else:
            content = m.data
        if m.data_tag != ber.SEQUENCE and not (m.flags & FLAG_PRIV):
            raise UsmError("plaintext reply without a ScopedPDU")
        _, _, pdu = ber.decode_scoped_pdu(content)
        if pdu.tag not in (ber.RESPONSE, ber.REPORT):
            raise UsmError(f"not a Response or Report PDU (tag 0x{pdu.tag:02x})")
        if not authenticated and pdu.tag != ber.REPORT and self.user.auth:
            raise UsmError("unauthenticated response to an authenticated request")
        pdu.size = len(data)
        return V3Reply(pdu, m.engine_id, m.engine_boots, m.engine_time, authenticated)


USM_STATS_PREFIX = ber.oid("1.3.6.1.6.3.15.1.1")


def report_reason(pdu: ber.Pdu) -> tuple[int, str]:
    """(usmStats number, reason) of a Report PDU."""
    for o, _, _ in pdu.varbinds:
        if o.startswith(USM_STATS_PREFIX):
            sub = ber.decode_subids(o[len(USM_STATS_PREFIX) :])
            if sub:
                return sub[0], USM_STATS_REASONS.get(sub[0], f"report {ber.oid_text(o)}")
        return 0, f"report {ber.oid_text(o)}"
    return 0, "empty report"


Session = V2cSession | V3Session
"""Either kind of session."""
