"""Fakes of the SNMP collector's narrow :class:`~collectors.snmp.transport.Transport` interface.

* :class:`RecordingTransport` wraps a real transport and keeps every request it carried.
* :class:`FakeAgent` answers v2c requests from an in-memory table, with an agent's limits
  (varbinds per reply, tooBig above a size), for unit tests of the walk logic. Every protocol
  path is also tested end to end against real agents (snmpd, snmpsim).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from collectors import ber
from collectors.snmp.transport import Transport
from collectors.usm import UsmUser, decrypt

T = TypeVar("T")


@dataclass(frozen=True)
class Sent:
    """One request as it went on the wire."""

    addr: tuple[str, int]
    payload: bytes


class RecordingTransport:
    """A :class:`Transport` that records every request, then hands it to ``inner``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent: list[Sent] = []

    @property
    def dropped(self) -> int:
        """Replies the inner transport dropped."""
        return self.inner.dropped

    async def start(self) -> None:
        await self.inner.start()

    def close(self) -> None:
        self.inner.close()

    def next_id(self) -> int:
        return self.inner.next_id()

    def socket_address(self, ip: str) -> str:
        return self.inner.socket_address(ip)

    async def exchange(
        self,
        addr: tuple[str, int],
        rid: int,
        payload: bytes,
        decode: Callable[[bytes], T],
        *,
        timeout: float,
        retries: int,
    ) -> T:
        self.sent.append(Sent(addr, payload))
        return await self.inner.exchange(
            addr, rid, payload, decode, timeout=timeout, retries=retries
        )


def v3_request_pdu(payload: bytes, user: UsmUser) -> ber.Pdu:
    """The PDU inside a v3 request (decrypted with ``user``'s keys when encrypted)."""
    msg = ber.decode_v3_message(payload)
    content = msg.data
    if msg.flags & 0x02:
        keys = user.keys_for(msg.engine_id)
        content = ber.unwrap_sequence(
            decrypt(keys, msg.engine_boots, msg.engine_time, msg.priv_params, msg.data)
        )
    return ber.decode_scoped_pdu(content)[2]


Value = tuple[int, int | bytes | tuple[int, ...] | None]


@dataclass
class FakeAgent:
    """An in-memory v2c agent behind the :class:`Transport` interface.

    Attributes:
        table: OID text → (BER tag, value).
        max_varbinds: varbinds per reply at most (snmpsim and many agents: 64).
        too_big_above: answer tooBig when a GETBULK asks for more than this many varbinds.
        requests: every decoded request PDU, in order.
    """

    table: Mapping[str, Value]
    max_varbinds: int = 64
    too_big_above: int | None = None
    requests: list[ber.Pdu] = field(default_factory=list)
    dropped: int = 0

    def __post_init__(self) -> None:
        self._next = 1
        self.load(self.table)

    def load(self, table: Mapping[str, Value]) -> None:
        """Serve ``table`` from now on (the device changed)."""
        self.table = table
        self._by_sub = {ber.decode_oid(ber.oid(o)): v for o, v in table.items()}
        self._sub = sorted(self._by_sub)

    async def start(self) -> None:
        return None

    def close(self) -> None:
        return None

    def next_id(self) -> int:
        self._next += 1
        return self._next

    def socket_address(self, ip: str) -> str:
        return ip

    def _after(self, sub: tuple[int, ...]) -> tuple[tuple[int, ...], Value]:
        i = bisect.bisect_right(self._sub, sub)
        if i >= len(self._sub):
            return sub, (ber.END_OF_MIB_VIEW, None)
        nxt = self._sub[i]
        return nxt, self._by_sub[nxt]

    def _answer(self, pdu: ber.Pdu) -> tuple[int, list[tuple[bytes, int, object]]]:
        oids = [ber.decode_oid(o) for o, _, _ in pdu.varbinds]
        out: list[tuple[bytes, int, object]] = []
        if pdu.tag == ber.GET_REQUEST:
            for sub in oids:
                tag, v = self._by_sub.get(sub, (ber.NO_SUCH_INSTANCE, None))
                out.append((ber.encode_oid_content(sub), tag, v))
            return 0, out
        nr, reps = (pdu.error_status, pdu.error_index) if pdu.tag == ber.GET_BULK_REQUEST else (
            len(oids), 0)
        if self.too_big_above is not None and nr + reps * (len(oids) - nr) > self.too_big_above:
            return 1, []
        for sub in oids[:nr]:
            nxt, (tag, v) = self._after(sub)
            out.append((ber.encode_oid_content(nxt), tag, v))
        last = oids[nr:]
        for _ in range(reps):
            for i, sub in enumerate(last):
                if len(out) >= self.max_varbinds:
                    return 0, out
                nxt, (tag, v) = self._after(sub)
                out.append((ber.encode_oid_content(nxt), tag, v))
                last[i] = nxt
        return 0, out

    async def exchange(
        self,
        addr: tuple[str, int],
        rid: int,
        payload: bytes,
        decode: Callable[[bytes], T],
        *,
        timeout: float,
        retries: int,
    ) -> T:
        msg = ber.decode_v2c_message(payload)
        self.requests.append(msg.pdu)
        status, vbs = self._answer(msg.pdu)
        body = ber.encode_response_varbinds(vbs)
        reply = ber.encode_v2c_message(
            msg.community, ber.encode_pdu(ber.RESPONSE, rid, status, 0, body)
        )
        return decode(reply)
