"""Multi-column GETBULK walks that adapt to the agent, with no fixed request cap.

A walk asks for several columns of one table at once (scalars ride along as non-repeaters)
and goes on until every column has left its subtree, or the poll's time budget is spent.
What an agent tolerates is learned per device and table (:class:`WalkHints`):

* **row count** — the previous walk's rows: max-repetitions is the rows still expected
  plus one, so a known table usually costs one round trip;
* **reply cap** — an agent that returns fewer varbinds than asked without reaching the end
  of its MIB (snmpsim and many embedded agents stop at 64) is asked for no more than that;
* **tooBig** — max-repetitions is halved and the smaller value remembered;
* **reply size** — the bytes per varbind of the last reply bound max-repetitions so one
  reply stays under :data:`REPLY_BYTES` (large replies fragment and get lost on real links).

While nothing limits it (and the rows expected are read), max-repetitions doubles from reply
to reply, so a first walk of a 2,000-row table, or a table that grew, does not crawl.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from collectors import ber
from collectors.snmp.transport import PollFailed

REPLY_BYTES = 24_000
"""Aim for replies no bigger than this (bytes), well under the UDP limit of 65,507."""
MAX_REPETITIONS = 2_000
"""Upper bound of max-repetitions, whatever the hints say."""

ERROR_NAMES = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
}

Request = Callable[[int, int, int, Sequence[bytes]], Awaitable[ber.Pdu]]
"""``request(pdu_tag, non_repeaters, max_repetitions, oids)`` → the reply PDU."""


@dataclass(slots=True)
class WalkHints:
    """What earlier walks of one table taught about one agent.

    Attributes:
        rows: rows the table had at the last complete walk (0: unknown).
        reply_cap: most varbinds the agent put in a reply it truncated (0: never seen).
        rep_limit: max-repetitions known to be accepted after a tooBig (0: no limit seen).
        vb_bytes: mean encoded bytes per varbind of the last reply (0: unknown).
    """

    rows: int = 0
    reply_cap: int = 0
    rep_limit: int = 0
    vb_bytes: float = 0.0

    def bound(self, rep: int, width: int, non_repeaters: int) -> int:
        """``rep`` limited by what the agent is known to accept for ``width`` columns."""
        if self.reply_cap:
            rep = min(rep, (self.reply_cap - non_repeaters) // width)
        if self.rep_limit:
            rep = min(rep, self.rep_limit)
        if self.vb_bytes:
            rep = min(rep, int(REPLY_BYTES / (self.vb_bytes * width)))
        return max(1, min(rep, MAX_REPETITIONS))


@dataclass(slots=True)
class WalkResult:
    """The rows of one walk and the non-repeater values.

    Attributes:
        rows: row index (encoded sub-identifiers after the column OID) → field → value
            (``None`` for noSuchObject/noSuchInstance).
        scalars: the non-repeaters' varbinds of the first reply, in request order.
        requests: GETBULK requests sent (tooBig retries included).
    """

    rows: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    scalars: list[ber.Varbind] = field(default_factory=list)
    requests: int = 0


async def bulk_walk(
    request: Request,
    fields: Sequence[str],
    columns: Sequence[bytes],
    hints: WalkHints,
    *,
    deadline: float,
    initial_repetitions: int = 16,
    non_repeaters: Sequence[bytes] = (),
    rows: dict[bytes, dict[str, Any]] | None = None,
) -> WalkResult:
    """Walk ``columns`` (encoded column OIDs, one field name each) with GETBULK.

    Args:
        request: sends one PDU and returns the reply (see :data:`Request`).
        fields: the field name of each column.
        columns: the encoded column OIDs.
        hints: this agent's hints for this table; updated in place.
        deadline: ``time.monotonic()`` value after which no further request is sent.
        initial_repetitions: max-repetitions while the table size is unknown.
        non_repeaters: OIDs whose GETNEXT rides along in the first request (scalars:
            the parent of ``x.0``).
        rows: a dict to add the rows to (default: a new one).

    Raises:
        PollFailed: an agent error other than a recoverable tooBig, a reply without the
            non-repeaters, an agent that returns the same row twice (a looping walk), or
            the deadline passed before the table ended.
    """
    result = WalkResult(rows={} if rows is None else rows)
    out = result.rows
    nr_oids = list(non_repeaters)
    last = list(columns)
    active = list(range(len(columns)))
    got = [0] * len(columns)
    expected = hints.rows
    if expected:
        rep = hints.bound(expected + 1, len(active), len(nr_oids))
    else:
        rep = hints.bound(initial_repetitions, len(active), len(nr_oids))
    while active:
        if result.requests and time.monotonic() > deadline:
            raise PollFailed(
                f"walk did not end within the poll's time budget ({len(out)} rows read in "
                f"{result.requests} requests): raise the budget or the agent's reply size"
            )
        result.requests += 1
        nr = len(nr_oids)
        width = len(active)
        pdu = await request(ber.GET_BULK_REQUEST, nr, rep, [*nr_oids, *(last[i] for i in active)])
        if pdu.error_status:
            if pdu.error_status == 1 and rep > 1:
                rep = max(1, rep // 2)
                hints.rep_limit = rep
                continue
            raise PollFailed(
                f"agent error {ERROR_NAMES.get(pdu.error_status, '?')} "
                f"({pdu.error_status}) on GETBULK"
            )
        vbs = pdu.varbinds
        if nr:
            if len(vbs) < nr:
                raise PollFailed("GETBULK reply without the requested scalars")
            result.scalars = vbs[:nr]
            nr_oids = []
        done: set[int] = set()
        k = 0
        end_of_view = False
        for o, tag, v in vbs[nr:]:
            ci = active[k % width]
            k += 1
            if ci in done:
                continue
            col = columns[ci]
            if tag == ber.END_OF_MIB_VIEW:
                end_of_view = True
                done.add(ci)
                continue
            if not o.startswith(col) or len(o) == len(col):
                done.add(ci)
                continue
            idx = o[len(col) :]
            row = out.get(idx)
            if row is None:
                row = out[idx] = {}
            name = fields[ci]
            if name in row:
                raise PollFailed(
                    f"agent returned {ber.oid_text(o)} twice: its walk does not advance"
                )
            row[name] = None if tag in ber.EXCEPTION_TAGS else v
            last[ci] = o
            got[ci] += 1
        if k == 0:
            break
        if pdu.size and vbs:
            hints.vb_bytes = pdu.size / len(vbs)
        if k < rep * width and not end_of_view:
            hints.reply_cap = nr + k  # the agent truncated the reply
        active = [ci for ci in active if ci not in done]
        if not active:
            break
        least = min(got[ci] for ci in active)
        rep = expected + 1 - least if expected and least < expected else rep * 2
        rep = hints.bound(rep, len(active), 0)
    hints.rows = len(out)
    return result
