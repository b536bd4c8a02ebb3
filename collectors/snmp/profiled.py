"""Reading a device's vendor profile (``collectors/profiles``) within one SNMP poll.

Scalars are fetched by GET (batched); each table is walked with the adaptive bulk walk of
:mod:`collectors.snmp.walk`, with its own hints. Lookup columns (names) are walked with the
slow columns and cached; tables with an ``interval`` (ONU tables) are walked at most that
often and their last samples repeated in between. Tables and scalars the agent does not
have are skipped until the next slow refresh, so a profile costs nothing where it reads
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from collectors import ber
from collectors.base import SensorSample
from collectors.profiles import (
    Profile,
    Table,
    evaluate_scalar,
    evaluate_table,
    lookup_columns,
    scalar_oids,
    table_columns,
)
from collectors.snmp.walk import ERROR_NAMES, Request, WalkHints, bulk_walk

logger = logging.getLogger(__name__)

GET_BATCH = 24
"""OIDs per GET of a profile's scalars."""

Column = dict[tuple[int, ...], object]


@dataclass(slots=True)
class ProfileState:
    """Per-device cache of the profile chain: selection, walk hints, names, slow tables."""

    name: str | None = None
    chain: list[Profile] = field(default_factory=list)
    hints: dict[str, WalkHints] = field(default_factory=dict)
    lookups: dict[str, dict[str, Column]] = field(default_factory=dict)
    walked_at: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[SensorSample]] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)
    """Tables and scalar sets the agent did not have: skipped until the next slow refresh."""


async def read_profiles(
    request: Request,
    state: ProfileState,
    *,
    refresh: bool,
    deadline: float,
    slow_interval: float | None,
    initial_repetitions: int,
) -> tuple[list[SensorSample], dict[str, int]]:
    """Read every profile of ``state.chain``; returns the samples and request counts.

    Raises:
        PollFailed, PollTimeout: the agent failed in the middle (the caller keeps what the
            poll read before).
    """
    out: list[SensorSample] = []
    counts = {"get": 0, "tables": 0, "tables_skipped": 0}
    now = time.monotonic()
    if refresh:
        state.empty.clear()
    for profile in state.chain:
        skey = f"{profile.name}/scalars"
        if profile.scalars and skey not in state.empty:
            values = await _get_all(request, scalar_oids(profile), counts)
            if not values:
                state.empty.add(skey)
            for r in profile.scalars:
                raw = values.get(r.oid)
                if raw is None:
                    continue
                helpers = {r.divide_by: values.get(r.divide_by)} if r.divide_by else None
                sample = evaluate_scalar(profile, r, raw, helpers)
                if sample is not None:
                    out.append(sample)
        for table in profile.tables:
            key = f"{profile.name}/{table.name}"
            interval = (
                slow_interval if slow_interval is not None and table.interval else (table.interval)
            )
            if key in state.empty:
                counts["tables_skipped"] += 1
                continue
            last = state.walked_at.get(key)
            if interval and last is not None and now - last < interval and not refresh:
                out.extend(state.samples.get(key, ()))
                counts["tables_skipped"] += 1
                continue
            samples = await _read_table(
                request,
                state,
                profile,
                table,
                key,
                refresh=refresh,
                deadline=deadline,
                initial_repetitions=initial_repetitions,
            )
            counts["tables"] += 1
            if not samples and not state.hints[key].rows:
                state.empty.add(key)
            state.walked_at[key] = now
            state.samples[key] = samples
            out.extend(samples)
    return out, counts


async def _get_all(
    request: Request, oids: Sequence[str], counts: dict[str, int]
) -> dict[str, object]:
    values: dict[str, object] = {}
    for i in range(0, len(oids), GET_BATCH):
        chunk = oids[i : i + GET_BATCH]
        enc = [ber.oid(o) for o in chunk]
        counts["get"] += 1
        pdu = await request(ber.GET_REQUEST, 0, 0, enc)
        if pdu.error_status:
            logger.debug("profile GET: agent error %s", ERROR_NAMES.get(pdu.error_status, "?"))
            continue
        for text, want, (o, tag, v) in zip(chunk, enc, pdu.varbinds, strict=False):
            if o == want and tag not in ber.EXCEPTION_TAGS:
                values[text] = v
    return values


async def _read_table(
    request: Request,
    state: ProfileState,
    profile: Profile,
    table: Table,
    key: str,
    *,
    refresh: bool,
    deadline: float,
    initial_repetitions: int,
) -> list[SensorSample]:
    cols = table_columns(profile, table)
    lookups = lookup_columns(profile, table)
    cached = state.lookups.get(key)
    need_lookups = bool(lookups) and (refresh or cached is None)
    fields = list(cols)
    if need_lookups:
        fields += [f"lookup:{k}" for k in lookups]
    oids = [ber.oid(c) for c in cols]
    if need_lookups:
        oids += [ber.oid(o) for o in lookups.values()]
    hints = state.hints.setdefault(key, WalkHints())
    walked = await bulk_walk(
        request, fields, oids, hints, deadline=deadline, initial_repetitions=initial_repetitions
    )
    columns: dict[str, Column] = {c: {} for c in cols}
    found: dict[str, Column] = {k: {} for k in lookups}
    for idx, row in walked.rows.items():
        sub = ber.decode_subids(idx)
        for f, v in row.items():
            if v is None:
                continue
            if f.startswith("lookup:"):
                found[f[7:]][sub] = v
            else:
                columns[f][sub] = v
    if need_lookups:
        state.lookups[key] = found
    names = state.lookups.get(key, {})
    return evaluate_table(profile, table, columns, names)
