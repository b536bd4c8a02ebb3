"""The BER codec: round trips, known encodings, and fuzzing (garbage only ever raises BerError)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pysnmp.proto import api

from collectors import ber

oids = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20).flatmap(
    lambda rest: st.tuples(st.integers(0, 1), st.integers(0, 39)).map(lambda h: (*h, *rest))
)


@settings(deadline=None)
@given(oids)
def test_oid_round_trip(oid: tuple[int, ...]) -> None:
    assert ber.decode_oid(ber.encode_oid_content(oid)) == oid


def test_oid_known_encoding() -> None:
    assert ber.oid("1.3.6.1.2.1.1.3.0") == bytes.fromhex("2b06010201010300")
    assert ber.oid("1.3.6.1.4.1.8072.1") == bytes.fromhex("2b06010401bf0801")


def test_column_prefix_is_a_byte_prefix_of_its_instances() -> None:
    col = ber.oid("1.3.6.1.2.1.31.1.1.1.6")
    inst = ber.oid("1.3.6.1.2.1.31.1.1.1.6.200000")
    assert inst.startswith(col)
    assert ber.decode_subids(inst[len(col):]) == (200000,)


values = st.one_of(
    st.tuples(st.just(ber.INTEGER), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(ber.COUNTER32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.GAUGE32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.TIMETICKS), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.COUNTER64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(ber.OCTET_STRING), st.binary(max_size=300)),
    st.tuples(st.just(ber.IP_ADDRESS), st.binary(min_size=4, max_size=4)),
    st.tuples(st.just(ber.NULL), st.none()),
    st.tuples(st.just(ber.NO_SUCH_INSTANCE), st.none()),
    st.tuples(st.just(ber.END_OF_MIB_VIEW), st.none()),
)


@settings(deadline=None)
@given(st.binary(max_size=40), st.integers(0, 2**31 - 1),
       st.lists(st.tuples(oids, values), max_size=30))
def test_response_round_trip_and_pysnmp_agrees(community: bytes, rid: int, vbs: list) -> None:
    triples = [(ber.encode_oid_content(o), tag, v) for o, (tag, v) in vbs]
    msg = ber.encode_v2c_message(
        community, ber.encode_pdu(ber.RESPONSE, rid, 0, 0, ber.encode_response_varbinds(triples))
    )
    decoded = ber.decode_v2c_message(msg)
    assert decoded.community == community
    assert decoded.pdu.request_id == rid
    assert decoded.pdu.varbinds == triples
    assert ber.peek_message_id(msg) == (1, rid)
    # pysnmp (pyasn1) reads our encoding to the same values
    p_msg, rest = pyasn1_decoder.decode(msg, asn1Spec=api.PROTOCOL_MODULES[1].Message())
    assert rest == b""
    p_pdu = api.PROTOCOL_MODULES[1].apiMessage.get_pdu(p_msg)
    p_vbs = api.PROTOCOL_MODULES[1].apiPDU.get_varbinds(p_pdu)
    assert len(p_vbs) == len(triples)
    for (o, _tag, v), (po, pv) in zip(triples, p_vbs, strict=True):
        assert tuple(po) == ber.decode_oid(o)
        if v is None:
            continue
        assert (bytes(pv) if isinstance(v, bytes) else int(pv)) == v


def test_decodes_pysnmp_encoded_request() -> None:
    from pyasn1.codec.ber import encoder

    p = api.PROTOCOL_MODULES[1]
    pdu = p.GetBulkRequestPDU()
    p.apiBulkPDU.set_defaults(pdu)
    p.apiBulkPDU.set_request_id(pdu, 4242)
    p.apiBulkPDU.set_non_repeaters(pdu, 1)
    p.apiBulkPDU.set_max_repetitions(pdu, 9)
    p.apiBulkPDU.set_varbinds(pdu, [((1, 3, 6, 1, 2, 1, 1, 3), p.Null("")),
                                    ((1, 3, 6, 1, 2, 1, 2, 2, 1, 8), p.Null(""))])
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, "village")
    p.apiMessage.set_pdu(msg, pdu)
    raw = encoder.encode(msg)
    ours = ber.encode_v2c_message(b"village", ber.encode_pdu(
        ber.GET_BULK_REQUEST, 4242, 1, 9,
        ber.encode_varbinds([ber.oid("1.3.6.1.2.1.1.3"), ber.oid("1.3.6.1.2.1.2.2.1.8")])))
    assert ours == raw
    d = ber.decode_v2c_message(raw)
    assert (d.pdu.tag, d.pdu.request_id, d.pdu.error_status, d.pdu.error_index) == (
        ber.GET_BULK_REQUEST, 4242, 1, 9)


def _valid_message() -> bytes:
    triples = [(ber.oid("1.3.6.1.2.1.1.3.0"), ber.TIMETICKS, 123456),
               (ber.oid("1.3.6.1.2.1.1.5.0"), ber.OCTET_STRING, b"rtr-kemiren"),
               (ber.oid("1.3.6.1.2.1.31.1.1.1.6.3"), ber.COUNTER64, 2**63 + 5)]
    return ber.encode_v2c_message(
        b"public", ber.encode_pdu(ber.RESPONSE, 77, 0, 0, ber.encode_response_varbinds(triples)))


def test_every_truncation_raises_ber_error() -> None:
    msg = _valid_message()
    for n in range(len(msg)):
        with pytest.raises(ber.BerError):
            ber.decode_v2c_message(msg[:n])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_only_ber_error(data: bytes) -> None:
    for fn in (ber.decode_v2c_message, ber.decode_v3_message, ber.peek_message_id,
               ber.decode_pdu, ber.decode_scoped_pdu, ber.unwrap_sequence):
        with contextlib.suppress(ber.BerError):
            fn(data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_messages_raise_only_ber_error(data: st.DataObject) -> None:
    msg = bytearray(_valid_message())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(msg) - 1))
        msg[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ber.BerError):
        ber.decode_v2c_message(bytes(msg))


def test_v3_framing_round_trip() -> None:
    usm = ber.encode_usm_params(b"\x80\x00\x1f\x88\x04kentongan", 3, 12345, b"monitor",
                                bytes(12), b"\x00" * 7 + b"\x01")
    scoped = ber.encode_scoped_pdu(b"eng", b"", ber.encode_pdu(
        ber.GET_REQUEST, 9, 0, 0, ber.encode_varbinds([ber.oid("1.3.6.1.2.1.1.5.0")])))
    msg = ber.encode_v3_message(9, 65507, 0x07, usm, scoped)
    m = ber.decode_v3_message(msg)
    assert (m.msg_id, m.flags, m.engine_boots, m.engine_time, m.user) == (9, 7, 3, 12345,
                                                                        b"monitor")
    assert msg[m.auth_offset:m.auth_offset + 12] == bytes(12)
    assert ber.peek_message_id(msg) == (3, 9)
    _, _, pdu = ber.decode_scoped_pdu(m.data)
    assert pdu.request_id == 9
    assert ber.oid_text(pdu.varbinds[0][0]) == "1.3.6.1.2.1.1.5.0"
