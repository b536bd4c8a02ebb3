"""A small, specialised BER codec for SNMP GET/GETNEXT/GETBULK requests and their responses.

This is the hot path of the SNMP collector. pysnmp builds and decodes messages through
pyasn1 objects (~200 us per varbind); this module reads responses directly from ``bytes``
(a few microseconds per varbind) and writes requests from pre-encoded OIDs.

Conventions:

* OIDs travel *encoded* (the content octets of the BER OBJECT IDENTIFIER, without tag and
  length). Because every sub-identifier is self-delimiting, a column's encoded OID is a byte
  prefix of the encoded OID of every instance in that column, so walks compare with
  ``bytes.startswith`` and decode only the index suffix (:func:`decode_subids`).
* A varbind is ``(oid, tag, value)``: ``tag`` is the BER tag of the value and ``value`` an
  ``int`` (INTEGER, Counter32, Gauge32, TimeTicks, Counter64), ``bytes`` (OCTET STRING,
  IpAddress, Opaque), a ``tuple`` of ints (OBJECT IDENTIFIER) or ``None`` (NULL and the
  exceptions noSuchObject/noSuchInstance/endOfMibView).
* Every malformed input raises :class:`BerError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from collectors.base import CollectorError

# Universal and SNMP application tags.
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42
TIMETICKS = 0x43
OPAQUE = 0x44
COUNTER64 = 0x46
NO_SUCH_OBJECT = 0x80
NO_SUCH_INSTANCE = 0x81
END_OF_MIB_VIEW = 0x82

# PDU tags.
GET_REQUEST = 0xA0
GET_NEXT_REQUEST = 0xA1
RESPONSE = 0xA2
GET_BULK_REQUEST = 0xA5
REPORT = 0xA8

EXCEPTION_TAGS = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
_UNSIGNED_TAGS = frozenset({COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
_BYTES_TAGS = frozenset({OCTET_STRING, IP_ADDRESS, OPAQUE})
_PDU_TAGS = frozenset({GET_REQUEST, GET_NEXT_REQUEST, RESPONSE, GET_BULK_REQUEST, REPORT, 0xA3})

Varbind = tuple[bytes, int, "int | bytes | tuple[int, ...] | None"]


class BerError(CollectorError, ValueError):
    """Bytes that are not a well-formed SNMP message (truncated, garbage, unsupported)."""


# --------------------------------------------------------------------------- encoding


def encode_length(n: int) -> bytes:
    """BER definite length octets for a content of ``n`` bytes."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def encode_tlv(tag: int, content: bytes) -> bytes:
    """One tag-length-value."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + encode_length(n) + content


def encode_integer(value: int, tag: int = INTEGER) -> bytes:
    """A two's-complement INTEGER (or an application integer type with ``tag``)."""
    if tag in _UNSIGNED_TAGS:
        if value < 0:
            raise BerError(f"negative value {value} for unsigned tag 0x{tag:02x}")
        content = value.to_bytes(value.bit_length() // 8 + 1, "big")
    else:
        content = value.to_bytes((value + (value < 0)).bit_length() // 8 + 1, "big", signed=True)
    return encode_tlv(tag, content)


def encode_oid_content(oid: Sequence[int]) -> bytes:
    """Content octets of an OBJECT IDENTIFIER (no tag/length)."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise BerError(f"invalid OID {'.'.join(map(str, oid))}")
    out = bytearray()
    for i, arc in enumerate((oid[0] * 40 + oid[1], *oid[2:])):
        if arc < 0:
            raise BerError(f"negative sub-identifier at position {i}")
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append(arc & 0x7F)
            arc >>= 7
        chunk.reverse()
        out.extend(c | 0x80 for c in chunk[:-1])
        out.append(chunk[-1])
    return bytes(out)


@lru_cache(maxsize=4096)
def oid(text: str) -> bytes:
    """Encoded OID content octets for a dotted numeric OID (``"1.3.6.1.2.1.1.3.0"``)."""
    try:
        arcs = tuple(int(p) for p in text.strip(".").split("."))
    except ValueError as exc:
        raise BerError(f"not a numeric OID: {text!r}") from exc
    return encode_oid_content(arcs)


def encode_value(tag: int, value: int | bytes | Sequence[int] | None) -> bytes:
    """Encode one varbind value (used by tests and fakes; requests only send NULL)."""
    if tag in (INTEGER, *_UNSIGNED_TAGS):
        if not isinstance(value, int):
            raise BerError(f"tag 0x{tag:02x} needs an int")
        return encode_integer(value, tag)
    if tag in _BYTES_TAGS:
        if not isinstance(value, bytes):
            raise BerError(f"tag 0x{tag:02x} needs bytes")
        return encode_tlv(tag, value)
    if tag == OBJECT_IDENTIFIER:
        if not isinstance(value, (tuple, list)):
            raise BerError("OBJECT IDENTIFIER needs a sequence of ints")
        return encode_tlv(tag, encode_oid_content(value))
    if tag == NULL or tag in EXCEPTION_TAGS:
        return bytes((tag, 0))
    raise BerError(f"unsupported value tag 0x{tag:02x}")


_NULL_VB_TAIL = b"\x05\x00"


def encode_varbinds(oids: Iterable[bytes]) -> bytes:
    """The VarBindList of a request: each encoded OID with a NULL value."""
    parts = []
    for o in oids:
        vb = b"\x06" + encode_length(len(o)) + o + _NULL_VB_TAIL
        parts.append(b"\x30" + encode_length(len(vb)) + vb)
    return encode_tlv(SEQUENCE, b"".join(parts))


def encode_pdu(tag: int, request_id: int, a: int, b: int, varbind_list: bytes) -> bytes:
    """A PDU. ``a``/``b`` are error-status/index, or non-repeaters/max-repetitions (GETBULK)."""
    return encode_tlv(
        tag, encode_integer(request_id) + encode_integer(a) + encode_integer(b) + varbind_list
    )


def encode_v2c_message(community: bytes, pdu: bytes, *, version: int = 1) -> bytes:
    """An SNMPv2c (``version=1``) or SNMPv1 (``version=0``) message."""
    return encode_tlv(SEQUENCE, encode_integer(version) + encode_tlv(OCTET_STRING, community) + pdu)


def encode_response_varbinds(varbinds: Iterable[tuple[bytes, int, object]]) -> bytes:
    """A VarBindList with values (for agents in tests and for round-trip checks)."""
    parts = []
    for o, tag, value in varbinds:
        vb = b"\x06" + encode_length(len(o)) + o + encode_value(tag, value)  # type: ignore[arg-type]
        parts.append(b"\x30" + encode_length(len(vb)) + vb)
    return encode_tlv(SEQUENCE, b"".join(parts))


# --------------------------------------------------------------------------- decoding


def _read_tl(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read tag and length at ``pos``; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise BerError(f"truncated header at offset {pos}")
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise BerError(f"unsupported length form 0x{n:02x} at offset {pos - 1}")
        if pos + k > end:
            raise BerError(f"truncated length at offset {pos}")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    if pos + n > end:
        raise BerError(f"value of {n} bytes at offset {pos} overruns its container")
    return tag, pos, pos + n


def _read_int(data: bytes, pos: int, end: int) -> tuple[int, int]:
    tag, start, stop = _read_tl(data, pos, end)
    if tag != INTEGER or start == stop:
        raise BerError(f"expected INTEGER at offset {pos}, got tag 0x{tag:02x}")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _read_octets(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    tag, start, stop = _read_tl(data, pos, end)
    if tag != OCTET_STRING:
        raise BerError(f"expected OCTET STRING at offset {pos}, got tag 0x{tag:02x}")
    return data[start:stop], stop


def decode_subids(content: bytes) -> tuple[int, ...]:
    """Sub-identifiers of encoded OID content *without* the first-two-arcs rule.

    Use on index suffixes (the bytes after a column prefix).
    """
    out: list[int] = []
    acc = 0
    pending = False
    for byte in content:
        acc = (acc << 7) | (byte & 0x7F)
        if byte & 0x80:
            pending = True
            continue
        out.append(acc)
        acc = 0
        pending = False
    if pending:
        raise BerError("OID ends inside a sub-identifier")
    return tuple(out)


def decode_oid(content: bytes) -> tuple[int, ...]:
    """A full OID (content octets) as a tuple of ints."""
    if not content:
        raise BerError("empty OBJECT IDENTIFIER")
    arcs = decode_subids(content)
    first = arcs[0]
    if first < 80:
        return (first // 40, first % 40, *arcs[1:])
    return (2, first - 80, *arcs[1:])


def oid_text(content: bytes) -> str:
    """Dotted text of an encoded OID (for logs and errors)."""
    return ".".join(map(str, decode_oid(content)))


def _decode_value(
    tag: int, data: bytes, start: int, stop: int
) -> int | bytes | tuple[int, ...] | None:
    if tag in _UNSIGNED_TAGS:
        if start == stop:
            raise BerError(f"empty integer value at offset {start}")
        return int.from_bytes(data[start:stop], "big")
    if tag == INTEGER:
        if start == stop:
            raise BerError(f"empty INTEGER at offset {start}")
        return int.from_bytes(data[start:stop], "big", signed=True)
    if tag in _BYTES_TAGS:
        return data[start:stop]
    if tag == NULL or tag in EXCEPTION_TAGS:
        if start != stop:
            raise BerError(f"non-empty NULL/exception value at offset {start}")
        return None
    if tag == OBJECT_IDENTIFIER:
        return decode_oid(data[start:stop])
    raise BerError(f"unsupported value tag 0x{tag:02x} at offset {start}")


@dataclass(slots=True)
class Pdu:
    """A decoded PDU."""

    tag: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[Varbind]
    size: int = 0
    """Bytes of the message that carried it (0: not recorded)."""


def decode_pdu(data: bytes, pos: int = 0, end: int | None = None) -> Pdu:
    """Decode the PDU TLV starting at ``pos``."""
    if end is None:
        end = len(data)
    try:
        tag, p, pend = _read_tl(data, pos, end)
        if tag not in _PDU_TAGS:
            raise BerError(f"not a PDU: tag 0x{tag:02x} at offset {pos}")
        rid, p = _read_int(data, p, pend)
        err, p = _read_int(data, p, pend)
        idx, p = _read_int(data, p, pend)
        t, p, lend = _read_tl(data, p, pend)
        if t != SEQUENCE:
            raise BerError(f"expected VarBindList at offset {p}")
        varbinds: list[Varbind] = []
        append = varbinds.append
        unsigned = _UNSIGNED_TAGS
        while p < lend:
            if data[p] != SEQUENCE:
                raise BerError(f"expected VarBind SEQUENCE at offset {p}")
            n = data[p + 1]
            if n < 0x80 and data[p + 2] == OBJECT_IDENTIFIER and data[p + 3] < 0x80:
                # fast path: short-form lengths throughout (nearly every varbind)
                ve = p + 2 + n
                os_ = p + 4
                oe = os_ + data[p + 3]
                if oe < ve <= lend and os_ != oe:
                    t = data[oe]
                    vn = data[oe + 1]
                    if vn < 0x80:
                        xs = oe + 2
                        if xs + vn != ve:
                            raise BerError(f"inconsistent VarBind lengths at offset {p}")
                        if t in unsigned and vn:
                            append((data[os_:oe], t, int.from_bytes(data[xs:ve], "big")))
                        elif t == OCTET_STRING:
                            append((data[os_:oe], t, data[xs:ve]))
                        else:
                            append((data[os_:oe], t, _decode_value(t, data, xs, ve)))
                        p = ve
                        continue
            t, vs, ve = _read_tl(data, p, lend)
            t, os_, oe = _read_tl(data, vs, ve)
            if t != OBJECT_IDENTIFIER or os_ == oe:
                raise BerError(f"expected OBJECT IDENTIFIER at offset {vs}")
            t, xs, xe = _read_tl(data, oe, ve)
            if xe != ve:
                raise BerError(f"trailing bytes in VarBind at offset {xe}")
            append((data[os_:oe], t, _decode_value(t, data, xs, xe)))
            p = ve
    except BerError:
        raise
    except (IndexError, ValueError, OverflowError) as exc:  # defensive: never leak others
        raise BerError(f"malformed PDU: {exc}") from exc
    return Pdu(tag, rid, err, idx, varbinds)


@dataclass(slots=True)
class V2cMessage:
    """A decoded SNMPv1/v2c message."""

    version: int
    community: bytes
    pdu: Pdu


def decode_v2c_message(data: bytes) -> V2cMessage:
    """Decode a whole SNMPv1/v2c message."""
    end = len(data)
    tag, p, mend = _read_tl(data, 0, end)
    if tag != SEQUENCE:
        raise BerError("not an SNMP message (no outer SEQUENCE)")
    if mend != end:
        raise BerError(f"{end - mend} trailing bytes after the message")
    version, p = _read_int(data, p, mend)
    if version not in (0, 1):
        raise BerError(f"not a v1/v2c message (version {version})")
    community, p = _read_octets(data, p, mend)
    pdu = decode_pdu(data, p, mend)
    return V2cMessage(version, community, pdu)


def _read_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """Tag and content bounds at ``pos``, clipped to the data (for a lenient peek)."""
    end = len(data)
    if pos + 2 > end:
        raise BerError(f"truncated header at offset {pos}")
    tag, n = data[pos], data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > end:
            raise BerError(f"bad length at offset {pos - 1}")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    return tag, pos, min(end, pos + n)


def peek_message_id(data: bytes) -> tuple[int, int]:
    """Return ``(version, id)`` cheaply: the PDU request-id (v1/v2c) or msgID (v3).

    Used to demultiplex replies on a shared socket before decoding them in full. It is
    lenient about lengths that overrun the datagram, so that a truncated reply can still
    be attributed to its request (and then fail the full decoding).
    """
    try:
        tag, p, mend = _read_header(data, 0)
        if tag != SEQUENCE:
            raise BerError("not an SNMP message (no outer SEQUENCE)")
        version, p = _read_int(data, p, mend)
        if version == 3:
            tag, p, hend = _read_header(data, p)
            if tag != SEQUENCE:
                raise BerError("v3 message without HeaderData")
            msg_id, _ = _read_int(data, p, hend)
            return 3, msg_id
        if version in (0, 1):
            _, p = _read_octets(data, p, mend)
            tag, p, pend = _read_header(data, p)
            if tag not in _PDU_TAGS:
                raise BerError(f"not a PDU: tag 0x{tag:02x}")
            rid, _ = _read_int(data, p, pend)
            return version, rid
        raise BerError(f"unknown SNMP version {version}")
    except BerError:
        raise
    except (IndexError, ValueError, OverflowError) as exc:
        raise BerError(f"malformed message: {exc}") from exc


# --------------------------------------------------------------------------- SNMPv3 framing


@dataclass(slots=True)
class V3Message:
    """A decoded SNMPv3 message (security parameters parsed, data still opaque).

    ``auth_offset`` is the offset of the authentication parameters' content inside the
    whole message, so the receiver can zero them and recompute the HMAC.
    """

    msg_id: int
    max_size: int
    flags: int
    security_model: int
    engine_id: bytes
    engine_boots: int
    engine_time: int
    user: bytes
    auth_params: bytes
    auth_offset: int
    priv_params: bytes
    data_tag: int
    data: bytes  # ScopedPDU content (plaintext) or the encrypted octets


def encode_usm_params(
    engine_id: bytes,
    boots: int,
    time: int,
    user: bytes,
    auth_params: bytes,
    priv_params: bytes,
) -> bytes:
    """UsmSecurityParameters (the SEQUENCE that goes inside msgSecurityParameters)."""
    return encode_tlv(
        SEQUENCE,
        encode_tlv(OCTET_STRING, engine_id)
        + encode_integer(boots)
        + encode_integer(time)
        + encode_tlv(OCTET_STRING, user)
        + encode_tlv(OCTET_STRING, auth_params)
        + encode_tlv(OCTET_STRING, priv_params),
    )


def encode_scoped_pdu(context_engine_id: bytes, context_name: bytes, pdu: bytes) -> bytes:
    """A plaintext ScopedPDU."""
    return encode_tlv(
        SEQUENCE,
        encode_tlv(OCTET_STRING, context_engine_id) + encode_tlv(OCTET_STRING, context_name) + pdu,
    )


def encode_v3_message(
    msg_id: int, max_size: int, flags: int, usm_params: bytes, msg_data: bytes
) -> bytes:
    """An SNMPv3 message; ``msg_data`` is a ScopedPDU TLV or an encrypted OCTET STRING TLV."""
    header = encode_tlv(
        SEQUENCE,
        encode_integer(msg_id)
        + encode_integer(max_size)
        + encode_tlv(OCTET_STRING, bytes((flags,)))
        + encode_integer(3),
    )
    return encode_tlv(
        SEQUENCE,
        encode_integer(3) + header + encode_tlv(OCTET_STRING, usm_params) + msg_data,
    )


def decode_v3_message(data: bytes) -> V3Message:
    """Decode an SNMPv3 message's framing and USM security parameters."""
    try:
        end = len(data)
        tag, p, mend = _read_tl(data, 0, end)
        if tag != SEQUENCE:
            raise BerError("not an SNMP message (no outer SEQUENCE)")
        if mend != end:
            raise BerError(f"{end - mend} trailing bytes after the message")
        version, p = _read_int(data, p, mend)
        if version != 3:
            raise BerError(f"not a v3 message (version {version})")
        tag, hp, hend = _read_tl(data, p, mend)
        if tag != SEQUENCE:
            raise BerError("v3 message without HeaderData")
        msg_id, hp = _read_int(data, hp, hend)
        max_size, hp = _read_int(data, hp, hend)
        flags_raw, hp = _read_octets(data, hp, hend)
        model, hp = _read_int(data, hp, hend)
        if len(flags_raw) != 1:
            raise BerError("msgFlags must be one octet")
        tag, sp, send = _read_tl(data, hend, mend)
        if tag != OCTET_STRING:
            raise BerError("msgSecurityParameters is not an OCTET STRING")
        tag, up, uend = _read_tl(data, sp, send)
        if tag != SEQUENCE:
            raise BerError("UsmSecurityParameters is not a SEQUENCE")
        engine_id, up = _read_octets(data, up, uend)
        boots, up = _read_int(data, up, uend)
        etime, up = _read_int(data, up, uend)
        user, up = _read_octets(data, up, uend)
        tag, auth_start, auth_end = _read_tl(data, up, uend)
        if tag != OCTET_STRING:
            raise BerError("msgAuthenticationParameters is not an OCTET STRING")
        priv, up = _read_octets(data, auth_end, uend)
        tag, dp, dend = _read_tl(data, send, mend)
        if tag not in (SEQUENCE, OCTET_STRING):
            raise BerError(f"unexpected msgData tag 0x{tag:02x}")
        return V3Message(
            msg_id=msg_id,
            max_size=max_size,
            flags=flags_raw[0],
            security_model=model,
            engine_id=engine_id,
            engine_boots=boots,
            engine_time=etime,
            user=user,
            auth_params=data[auth_start:auth_end],
            auth_offset=auth_start,
            priv_params=priv,
            data_tag=tag,
            data=data[dp:dend],
        )
    except BerError:
        raise
    except (IndexError, ValueError, OverflowError) as exc:
        raise BerError(f"malformed v3 message: {exc}") from exc


def decode_scoped_pdu(content: bytes) -> tuple[bytes, bytes, Pdu]:
    """Decode ScopedPDU *content* (inside the SEQUENCE): (contextEngineID, contextName, pdu)."""
    try:
        end = len(content)
        ctx_engine, p = _read_octets(content, 0, end)
        ctx_name, p = _read_octets(content, p, end)
        return ctx_engine, ctx_name, decode_pdu(content, p, end)
    except BerError:
        raise
    except (IndexError, ValueError, OverflowError) as exc:
        raise BerError(f"malformed ScopedPDU: {exc}") from exc


def unwrap_sequence(data: bytes) -> bytes:
    """Content of a single SEQUENCE TLV; decrypted ScopedPDUs may carry trailing padding."""
    tag, start, stop = _read_tl(data, 0, len(data))
    if tag != SEQUENCE:
        raise BerError("decrypted data is not a ScopedPDU (wrong privacy key?)")
    return data[start:stop]
