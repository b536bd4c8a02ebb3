"""``kentongan inventory import``: validate everything, then land all of it or nothing.

Kinds are processed in dependency order (regions, credentials, sites, devices, links,
maintenance). Records stream in chunks: the importer keeps the *ids* of what it has seen,
not the rows, so memory stays bounded as the input grows. Every problem is collected
(``file:line: field: reason``); if there is any, the transaction is rolled back.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, DateTime, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from core.timeutil import as_utc
from inventory.choices import SERVICE_POINT_KINDS, VILLAGE_LEVELS, RegionLevel
from inventory.db import Base
from inventory.errors import ImportRejected, Problem, ProblemList
from inventory.models import (
    Device,
    Link,
    MaintenanceWindow,
    Region,
    Site,
    SiteFacility,
    SnmpProfile,
    SshProfile,
)
from inventory.schemas import (
    DeviceIn,
    LinkIn,
    MaintenanceIn,
    RegionIn,
    SiteIn,
    SnmpProfileIn,
    SshProfileIn,
)
from inventory.sources import KINDS, Record, Source, expand_paths, open_sources

logger = logging.getLogger(__name__)

CHUNK = 5000
#: Problems kept (and shown); beyond this an import only counts them.
MAX_PROBLEMS = 1_000
#: ``--prune`` asks for ``--yes`` before deleting more than this share of a kind.
PRUNE_SHARE = 0.10
#: Ids named in a prune refusal (all of them are in the dry run's report).
PRUNE_IDS_SHOWN = 20

MODELS: dict[str, tuple[type[Base], str, type[BaseModel]]] = {
    "regions": (Region, "code", RegionIn),
    "snmp_profiles": (SnmpProfile, "name", SnmpProfileIn),
    "ssh_profiles": (SshProfile, "name", SshProfileIn),
    "sites": (Site, "id", SiteIn),
    "devices": (Device, "id", DeviceIn),
    "links": (Link, "id", LinkIn),
    "maintenance": (MaintenanceWindow, "id", MaintenanceIn),
}

LABELS = {
    "regions": "region",
    "snmp_profiles": "SNMP profile",
    "ssh_profiles": "SSH profile",
    "sites": "site",
    "devices": "device",
    "links": "link",
    "maintenance": "maintenance window",
}


@dataclass(slots=True)
class KindCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    counts: dict[str, KindCounts] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: Ids ``--prune`` deletes (or, in a dry run, would delete), per kind, sorted.
    pruned: dict[str, list[str]] = field(default_factory=dict)
    #: Why ``--prune`` would need ``--yes`` (a dry run reports instead of refusing).
    prune_warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "changed": self.changed,
            "files": self.files,
            "pruned": self.pruned,
            "prune_warnings": self.prune_warnings,
            "counts": {
                k: {
                    "created": c.created,
                    "updated": c.updated,
                    "unchanged": c.unchanged,
                    "deleted": c.deleted,
                }
                for k, c in self.counts.items()
            },
        }


ProgressHook = Callable[[str, int], None]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return as_utc(old) == as_utc(new)
    if isinstance(old, float) and isinstance(new, (int, float)):
        return abs(old - new) < 1e-9
    return bool(old == new)


def _district_of(code: str) -> str:
    parts = code.split(".")
    return ".".join(parts[:3]) if len(parts) >= 3 else code


class Importer:
    """Imports inventory files into ``session`` (the caller owns the transaction).

    Use :func:`import_paths` for the usual all-or-nothing behaviour.
    """

    def __init__(
        self,
        session: Session,
        *,
        prune: bool = False,
        confirm_prune: bool = False,
        dry_run: bool = False,
        progress: ProgressHook | None = None,
    ) -> None:
        self.session = session
        self.prune = prune
        self.confirm_prune = confirm_prune
        self.dry_run = dry_run
        self.progress = progress
        self.problems = ProblemList(MAX_PROBLEMS)
        self.report = ImportReport()
        self.seen: dict[str, dict[str, tuple[str, int]]] = {k: {} for k in KINDS}
        self._known: dict[str, set[str]] = {}
        self._region_levels: dict[str, str] = {}
        self._device_parents: list[tuple[str, str, str, int]] = []
        self._uplinks: dict[str, tuple[str, str, int]] = {}
        self._changed: set[str] = set()
        self._levels_loaded = False

    # -- problems -----------------------------------------------------------------------
    @property
    def problem_count(self) -> int:
        return self.problems.total

    def problem(
        self, record: Record | None, field_name: str, reason: str, *, file: str | None = None
    ) -> None:
        if record is not None:
            self.problems.append(
                Problem(record.file, record.line_of(field_name.split(".")[0]), field_name, reason)
            )
        else:
            self.problems.append(Problem(file or "-", None, field_name, reason))

    @property
    def writing(self) -> bool:
        """Stop writing at the first problem; keep validating to report all of them."""
        return self.problem_count == 0

    # -- lookups --------------------------------------------------------------------------
    def known(self, kind: str) -> set[str]:
        """Ids of ``kind`` in the database (loaded once) plus those seen in this import."""
        cached = self._known.get(kind)
        if cached is None:
            model, key, _ = MODELS[kind]
            column = getattr(model, key)
            cached = set(self.session.scalars(select(column)))
            self._known[kind] = cached
        return cached

    def region_level(self, code: str) -> str | None:
        """The level of a region known to the database or this import."""
        if not self._levels_loaded:
            for c, level in self.session.execute(select(Region.code, Region.level)):
                self._region_levels.setdefault(c, level)
            self._levels_loaded = True
        return self._region_levels.get(code)

    # -- driver ---------------------------------------------------------------------------
    def run(self, paths: list[Path]) -> ImportReport:
        files, problems = expand_paths(paths)
        self.problems.extend(problems)
        sources: list[Source] = []
        for path in files:
            self.report.files.append(str(path))
            sources.extend(open_sources(path, self.problems))
        if not files and not problems:
            self.problem(None, "-", "no files given", file="-")
        for kind in KINDS:
            kind_sources = [s for s in sources if s.kind == kind]
            if not kind_sources:
                continue
            self.report.counts[kind] = KindCounts()
            handler = getattr(self, f"_import_{kind}")
            handler(kind_sources)
        if self.prune:
            self._prune()
        return self.report

    def _records(self, sources: list[Source]) -> Iterator[Record]:
        for source in sources:
            for n, record in enumerate(source.records, 1):
                if self.progress and n % 1000 == 0:
                    self.progress(source.kind, 1000)
                yield record

    def _validate(self, record: Record, schema: type[BaseModel]) -> Any | None:
        try:
            return schema.model_validate(record.data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "-"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown field"
                elif err["type"] == "missing":
                    msg = "required field is missing"
                elif err["type"] == "string_pattern_mismatch" and "[a-z0-9]" in str(
                    err.get("ctx", {}).get("pattern", "")
                ):
                    msg = (
                        f"{err['input']!r} is not a valid id: use lowercase letters, digits "
                        "and '-', '_' or '.', at most 64 characters"
                    )
                self.problem(record, loc, msg)
            return None

    def _claim(self, kind: str, key: str, record: Record) -> bool:
        """Register ``key`` as seen; a second sighting is a duplicate."""
        seen = self.seen[kind]
        if key in seen:
            first_file, first_line = seen[key]
            self.problem(
                record,
                "id" if kind not in ("regions",) else "code",
                f"duplicate {LABELS[kind]} {key!r} (first at {first_file}:{first_line})",
            )
            return False
        seen[key] = (record.file, record.line)
        return True

    def _upsert(self, kind: str, rows: list[dict[str, Any]]) -> set[str]:
        """Insert new rows, update changed ones; return the keys that changed."""
        model, key, _ = MODELS[kind]
        counts = self.report.counts[kind]
        if not rows or not self.writing:
            return set()
        key_col = getattr(model, key)
        columns = list(rows[0])
        existing = {
            row[key]: row
            for row in self.session.execute(
                select(*(getattr(model, c) for c in columns)).where(
                    key_col.in_([r[key] for r in rows])
                )
            ).mappings()
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        changed: set[str] = set()
        for row in rows:
            old = existing.get(row[key])
            if old is None:
                inserts.append(row)
                changed.add(row[key])
            elif all(_same(old[c], row[c]) for c in columns):
                counts.unchanged += 1
            else:
                updates.append(row)
                changed.add(row[key])
        if inserts:
            self._bulk_insert(model, inserts)
            counts.created += len(inserts)
        if updates:
            self.session.execute(update(model), updates)
            counts.updated += len(updates)
        if kind == "devices":
            self._changed |= changed
        return changed

    def _bulk_insert(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Insert new rows the fast way the database offers: ``COPY`` into PostgreSQL,
        the driver's ``executemany`` into SQLite (same transaction as the session)."""
        table: Table = model.__table__  # type: ignore[assignment]
        columns = list(rows[0])
        connection = self.session.connection()
        dialect = connection.dialect.name
        if dialect not in ("sqlite", "postgresql") or any(
            isinstance(table.c[c].type, DateTime) for c in columns
        ):
            self.session.execute(table.insert(), rows)
            return
        json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
        data = [
            tuple(json.dumps(r[c]) if c in json_columns else r[c] for c in columns) for r in rows
        ]
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in columns)
        driver: Any = connection.connection.driver_connection
        if dialect == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(
                    f"COPY {quote(table.name)} ({names}) FROM STDIN"
                ) as copy,
            ):
                for row in data:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            cursor = driver.cursor()
            cursor.executemany(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", data)
            cursor.close()

    def _generic(
        self,
        kind: str,
        sources: list[Source],
        check: Callable[[Record, Any], dict[str, Any] | None],
    ) -> None:
        _, key, schema = MODELS[kind]
        known = self.known(kind)
        for chunk in _chunks(self._records(sources), CHUNK):
            rows = []
            for record in chunk:
                item = self._validate(record, schema)
                if item is None:
                    continue
                ident = getattr(
                    item,
                    "code" if kind == "regions" else "name" if kind.endswith("profiles") else "id",
                )
                if not self._claim(kind, ident, record):
                    continue
                row = check(record, item)
                if row is not None:
                    rows.append(row)
            self._upsert(kind, rows)
            known.update(r[key] for r in rows)

    # -- kinds ----------------------------------------------------------------------------
    def _import_regions(self, sources: list[Source]) -> None:
        items: list[tuple[Record, RegionIn]] = []
        for record in self._records(sources):
            item = self._validate(record, RegionIn)
            if item is not None and self._claim("regions", item.code, record):
                items.append((record, item))
        items.sort(key=lambda pair: pair[1].code.count("."))
        known = self.known("regions")
        for pair in items:
            self._region_levels[pair[1].code] = pair[1].level.value
        rows = []
        for record, item in items:
            if (
                item.parent_code
                and item.parent_code not in known
                and item.parent_code not in self.seen["regions"]
            ):
                self.problem(
                    record,
                    "parent_code",
                    f"unknown parent region {item.parent_code} (import it first, e.g. "
                    "admin_units.csv.gz before villages.csv.gz, or in the same command)",
                )
                continue
            rows.append(item.model_dump(mode="json"))
        for chunk in _chunks(rows, CHUNK):
            self._upsert("regions", chunk)
            known.update(r["code"] for r in chunk)

    def _import_snmp_profiles(self, sources: list[Source]) -> None:
        self._generic("snmp_profiles", sources, lambda record, item: item.model_dump(mode="json"))

    def _import_ssh_profiles(self, sources: list[Source]) -> None:
        self._generic("ssh_profiles", sources, lambda record, item: item.model_dump(mode="json"))

    def _import_sites(self, sources: list[Source]) -> None:
        pending_facilities: list[dict[str, Any]] = []
        known = self.known("sites")

        def check(record: Record, item: SiteIn) -> dict[str, Any] | None:
            level = self.region_level(item.village)
            if level is None:
                self.problem(
                    record,
                    "village",
                    f"unknown region code {item.village} (import "
                    "the region list first: kentongan inventory import "
                    "examples/banyuwangi/regions.csv)",
                )
                return None
            if item.kind in SERVICE_POINT_KINDS and level not in VILLAGE_LEVELS:
                self.problem(
                    record,
                    "village",
                    f"a {item.kind.value} must stand in a desa or "
                    f"kelurahan, but {item.village} is a {level}",
                )
                return None
            if level in (RegionLevel.PROVINSI, RegionLevel.KABUPATEN, RegionLevel.KOTA):
                self.problem(
                    record,
                    "village",
                    f"{item.village} is a {level}: give the "
                    "kecamatan, desa or kelurahan the site stands in",
                )
                return None
            pending_facilities.extend(item.facility_rows())
            return {
                "id": item.id,
                "name": item.name,
                "kind": item.kind.value,
                "status": item.status.value,
                "village_code": item.village,
                "district_code": _district_of(item.village),
                "lat": item.lat,
                "lon": item.lon,
                "address": item.address,
                "tags": list(item.tags),
            }

        for chunk in _chunks(self._records(sources), CHUNK):
            rows = []
            for record in chunk:
                item = self._validate(record, SiteIn)
                if item is None or not self._claim("sites", item.id, record):
                    continue
                row = check(record, item)
                if row is not None:
                    rows.append(row)
            changed = self._upsert("sites", rows)
            known.update(r["id"] for r in rows)
            self._sync_facilities([r["id"] for r in rows], pending_facilities, changed)
            pending_facilities = []

    def _sync_facilities(
        self, site_ids: list[str], rows: list[dict[str, Any]], changed: set[str]
    ) -> None:
        if not site_ids or not self.writing:
            return
        existing: dict[str, list[dict[str, Any]]] = {}
        for found in self.session.execute(
            select(SiteFacility.__table__).where(SiteFacility.site_id.in_(site_ids))
        ).mappings():
            existing.setdefault(found["site_id"], []).append(dict(found))
        wanted: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            wanted.setdefault(row["site_id"], []).append(row)

        def norm(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
            return sorted(
                (
                    r["facility"],
                    r["value"],
                    r["attested_by"],
                    as_utc(r["attested_at"]) if r["attested_at"] else None,
                    r["evidence"],
                    as_utc(r["expires_at"]) if r["expires_at"] else None,
                )
                for r in items
            )

        stale = [s for s in site_ids if norm(existing.get(s, [])) != norm(wanted.get(s, []))]
        if not stale:
            return
        counts = self.report.counts["sites"]
        newly_updated = [s for s in stale if s not in changed]
        counts.updated += len(newly_updated)
        counts.unchanged -= len(newly_updated)
        self.session.execute(delete(SiteFacility).where(SiteFacility.site_id.in_(stale)))
        inserts = [r for s in stale for r in wanted.get(s, [])]
        if inserts:
            self.session.execute(insert(SiteFacility), inserts)

    def _import_devices(self, sources: list[Source]) -> None:
        sites = self.known("sites")
        snmp = self.known("snmp_profiles")
        ssh = self.known("ssh_profiles")

        def check(record: Record, item: DeviceIn) -> dict[str, Any] | None:
            ok = True
            if item.site not in sites:
                self.problem(record, "site", f"unknown site {item.site!r}")
                ok = False
            if item.snmp and item.snmp not in snmp:
                self.problem(
                    record,
                    "snmp",
                    f"unknown SNMP credential profile {item.snmp!r} "
                    "(define it under credentials: snmp:)",
                )
                ok = False
            if item.ssh and item.ssh not in ssh:
                self.problem(
                    record,
                    "ssh",
                    f"unknown SSH credential profile {item.ssh!r} "
                    "(define it under credentials: ssh:)",
                )
                ok = False
            if item.parent == item.id:
                self.problem(record, "parent", "a device cannot be its own parent")
                ok = False
            if not ok:
                return None
            parent = None
            if item.parent:
                if item.parent in self.seen["devices"] or item.parent in self.known("devices"):
                    parent = item.parent
                else:  # a forward reference: set once every device is in
                    self._device_parents.append((item.id, item.parent, record.file, record.line))
            return {
                "id": item.id,
                "site_id": item.site,
                "role": item.role.value,
                "address": item.address,
                "snmp_port": item.snmp_port,
                "ssh_port": item.ssh_port,
                "device_type": item.device_type,
                "vendor": item.vendor,
                "model": item.model,
                "snmp_profile": item.snmp,
                "ssh_profile": item.ssh,
                "poll_interval": item.poll_interval,
                "enabled": item.enabled,
                "tags": list(item.tags),
                "parent_device_id": parent,
            }

        self._generic("devices", sources, check)
        self._resolve_parents()

    def _resolve_parents(self) -> None:
        """Set forward-referenced parents, then refuse parent chains that loop."""
        devices = self.known("devices")
        updates = []
        for device, parent, file, line in self._device_parents:
            if parent not in devices:
                self.problems.append(Problem(file, line, "parent", f"unknown device {parent!r}"))
                continue
            updates.append({"id": device, "parent_device_id": parent})
        if not self.writing:
            return
        for chunk in _chunks(updates, CHUNK):
            self.session.execute(update(Device), chunk)
        parents: dict[str, str | None] = dict(
            self.session.execute(  # type: ignore[arg-type]
                select(Device.id, Device.parent_device_id).where(
                    Device.parent_device_id.isnot(None)
                )
            ).all()
        )
        for start in parents:
            if start not in self.seen["devices"]:
                continue
            visited = {start}
            current = parents.get(start)
            while current is not None:
                if current in visited:
                    file, line = self.seen["devices"][start]
                    self.problems.append(
                        Problem(file, line, "parent", f"parent chain of {start!r} loops")
                    )
                    break
                visited.add(current)
                current = parents.get(current)

    def _import_links(self, sources: list[Source]) -> None:
        devices = self.known("devices")
        sites = self.known("sites")
        existing_uplinks = dict(
            self.session.execute(select(Link.uplink_of, Link.id).where(Link.uplink_of.isnot(None)))
            .tuples()
            .all()
        )

        def check(record: Record, item: LinkIn) -> dict[str, Any] | None:
            ok = True
            for end, ref in (("a", item.a), ("z", item.z)):
                if ref.device not in devices:
                    self.problem(record, f"{end}.device", f"unknown device {ref.device!r}")
                    ok = False
            if item.uplink_of:
                if item.uplink_of not in sites:
                    self.problem(record, "uplink_of", f"unknown site {item.uplink_of!r}")
                    ok = False
                elif item.uplink_of in self._uplinks:
                    other, file, line = self._uplinks[item.uplink_of]
                    self.problem(
                        record,
                        "uplink_of",
                        f"site {item.uplink_of!r} already has uplink {other!r} ({file}:{line})",
                    )
                    ok = False
                else:
                    owner = existing_uplinks.get(item.uplink_of)
                    if owner is not None and owner != item.id and owner not in self.seen["links"]:
                        self.problem(
                            record,
                            "uplink_of",
                            f"site {item.uplink_of!r} already has uplink {owner!r} in the database",
                        )
                        ok = False
                    self._uplinks[item.uplink_of] = (item.id, record.file, record.line)
            if not ok:
                return None
            return {
                "id": item.id,
                "medium": item.medium.value,
                "a_device": item.a.device,
                "a_interface": item.a.interface,
                "z_device": item.z.device,
                "z_interface": item.z.interface,
                "provider": item.provider,
                "capacity_bps": item.capacity_bps,
                "length_m": item.length_m,
                "uplink_of": item.uplink_of,
            }

        # Moving an uplink between links inside one import must not trip the unique index:
        # clear uplink_of on the links this import redefines before writing.
        self._generic("links", sources, check)

    def _import_maintenance(self, sources: list[Source]) -> None:
        def check(record: Record, item: MaintenanceIn) -> dict[str, Any] | None:
            if item.scope == "device" and item.target not in self.known("devices"):
                self.problem(record, "target", f"unknown device {item.target!r}")
                return None
            if item.scope == "site" and item.target not in self.known("sites"):
                self.problem(record, "target", f"unknown site {item.target!r}")
                return None
            if item.scope == "district" and self.region_level(item.target) != "kecamatan":
                self.problem(record, "target", f"{item.target!r} is not a kecamatan code")
                return None
            return item.model_dump(mode="python")

        self._generic("maintenance", sources, check)

    # -- prune ----------------------------------------------------------------------------
    def _prune(self) -> None:
        """Delete rows of the imported kinds that the import no longer lists."""
        order = ("maintenance", "links", "devices", "sites", "ssh_profiles", "snmp_profiles")
        doomed: dict[str, set[str]] = {}
        for kind in order:
            if kind not in self.report.counts:
                continue
            model, key, _ = MODELS[kind]
            present = set(self.session.scalars(select(getattr(model, key))))
            doomed[kind] = present - set(self.seen[kind])
            self._guard_prune(kind, doomed[kind], len(present))
        self._check_prune_references(doomed)
        self.report.pruned = {k: sorted(ids) for k, ids in doomed.items() if ids}
        if not self.writing:
            return
        for kind in order:
            ids = doomed.get(kind)
            if not ids:
                continue
            model, key, _ = MODELS[kind]
            for chunk in _chunks(sorted(ids), CHUNK):
                if kind == "sites":
                    self.session.execute(
                        delete(SiteFacility).where(SiteFacility.site_id.in_(chunk))
                    )
                if kind == "devices":
                    self.session.execute(
                        update(Device)
                        .where(Device.parent_device_id.in_(chunk))
                        .values(parent_device_id=None)
                    )
                self.session.execute(delete(model).where(getattr(model, key).in_(chunk)))
            self.report.counts[kind].deleted += len(ids)

    def _guard_prune(self, kind: str, ids: set[str], present: int) -> None:
        """Refuse (or, in a dry run, warn about) a prune that empties a kind or deletes more
        than :data:`PRUNE_SHARE` of it, unless it was confirmed."""
        if not ids or self.confirm_prune:
            return
        label = LABELS[kind]
        if not self.seen[kind]:
            why = f"the input lists no {label} at all: --prune would delete all {present}"
        elif len(ids) > PRUNE_SHARE * present:
            why = (
                f"--prune would delete {len(ids)} of {present} {label}(s), "
                f"more than {PRUNE_SHARE:.0%}"
            )
        else:
            return
        shown = ", ".join(sorted(ids)[:PRUNE_IDS_SHOWN])
        more = f" and {len(ids) - PRUNE_IDS_SHOWN} more" if len(ids) > PRUNE_IDS_SHOWN else ""
        if self.dry_run:
            self.report.prune_warnings.append(f"{kind}: {why}; needs --yes")
            return
        self.problem(
            None,
            "prune",
            f"{kind}: {why} ({shown}{more}). Check that the files are complete, see the ids "
            "with --dry-run, and confirm with --yes",
            file="--prune",
        )

    def _check_prune_references(self, doomed: dict[str, set[str]]) -> None:
        gone_devices = doomed.get("devices", set())
        gone_sites = doomed.get("sites", set())
        if gone_sites:
            for device_id, site_id in self.session.execute(
                select(Device.id, Device.site_id).where(Device.site_id.in_(gone_sites))
            ):
                if device_id not in gone_devices:
                    self.problem(
                        None,
                        "prune",
                        f"cannot delete site {site_id!r}: device "
                        f"{device_id!r} still stands there (import devices too, or "
                        "move it)",
                        file="--prune",
                    )
        if gone_devices:
            gone_links = doomed.get("links", set())
            for link_id, a, z in self.session.execute(
                select(Link.id, Link.a_device, Link.z_device).where(
                    Link.a_device.in_(gone_devices) | Link.z_device.in_(gone_devices)
                )
            ):
                if link_id not in gone_links:
                    self.problem(
                        None,
                        "prune",
                        f"cannot delete device {a if a in gone_devices else z!r}: "
                        f"link {link_id!r} still ends there (import links too)",
                        file="--prune",
                    )
        for kind, column in (
            ("snmp_profiles", Device.snmp_profile),
            ("ssh_profiles", Device.ssh_profile),
        ):
            gone = doomed.get(kind, set())
            if gone:
                for device_id, profile in self.session.execute(
                    select(Device.id, column).where(column.in_(gone))
                ):
                    if device_id not in gone_devices:
                        self.problem(
                            None,
                            "prune",
                            f"cannot delete profile {profile!r}: device {device_id!r} uses it",
                            file="--prune",
                        )


def import_paths(
    session: Session,
    paths: list[Path],
    *,
    dry_run: bool = False,
    prune: bool = False,
    confirm_prune: bool = False,
    progress: ProgressHook | None = None,
) -> ImportReport:
    """Import ``paths`` in one transaction: all of it lands, or nothing changes.

    With ``prune``, rows of the imported kinds that the files no longer list are deleted;
    emptying a kind, or deleting more than 10 % of one, needs ``confirm_prune`` (a dry run
    reports it in ``prune_warnings`` instead). Raises :class:`ImportRejected` listing the
    first :data:`MAX_PROBLEMS` problems and their total.
    """
    importer = Importer(
        session, prune=prune, confirm_prune=confirm_prune, dry_run=dry_run, progress=progress
    )
    try:
        report = importer.run(paths)
    except BaseException:
        session.rollback()
        raise
    if importer.problem_count:
        session.rollback()
        raise ImportRejected(list(importer.problems), total=importer.problem_count)
    report.dry_run = dry_run
    if dry_run:
        session.rollback()
    else:
        session.commit()
    logger.info("inventory import: %s", {k: v for k, v in report.as_dict()["counts"].items()})
    return report


def count_rows(session: Session) -> Counter[str]:
    """Rows per inventory kind (for summaries)."""
    from sqlalchemy import func

    counts: Counter[str] = Counter()
    for kind, (model, _key, _) in MODELS.items():
        counts[kind] = session.scalar(select(func.count()).select_from(model)) or 0
    return counts
