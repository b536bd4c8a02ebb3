#!/usr/bin/env python3
"""Write Kentongan inventories built from the real Kemendagri region list.

    # the Banyuwangi sample (YAML), from examples/banyuwangi/regions.csv + health_sites.csv
    python examples/generate.py banyuwangi --out examples/banyuwangi/inventory.yaml

    # a national-size synthetic fleet (CSV, streamed) for benchmarks
    python examples/generate.py synthetic --villages 83000 --out /tmp/fleet

Shape of both: the regency NOC; per kecamatan a PoP (router + OLT) fed by fibre from the
NOC and a district office; per desa/kelurahan a village office with an ONT, a router, a
UPS and a kiosk, fed from its kecamatan's OLT (fibre for most, radio/LTE/VSAT for the
rest). Facilities are deterministic pseudo-random attestations, so runs are repeatable.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ATTESTED_BY = "Survei Diskominfo Banyuwangi"
ATTESTED_AT = "2026-09-01T09:00:00+07:00"
EXPIRES_AT = "2027-09-01T00:00:00+07:00"

#: Standard bodies of an Indonesian kabupaten (every regency has them).
GOVERNMENT_UNITS = (
    "Sekretariat Daerah",
    "Dinas Komunikasi, Informatika dan Persandian",
    "Dinas Kependudukan dan Pencatatan Sipil",
    "Dinas Kesehatan",
    "Dinas Pendidikan",
    "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu",
    "Badan Perencanaan Pembangunan Daerah",
    "Badan Penanggulangan Bencana Daerah",
    "Inspektorat",
    "Dinas Sosial",
    "Satuan Polisi Pamong Praja",
    "Dinas Perhubungan",
)


@dataclass(frozen=True, slots=True)
class RegionRow:
    code: str
    name: str
    level: str
    parent_code: str
    lat: float | None
    lon: float | None


def slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:limit].strip("-")


def chance(key: str, percent: int) -> bool:
    """Deterministic coin: the same key always gives the same answer."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100 < percent


def pick(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[8:16], 16) % n


def read_regions(path: Path) -> list[RegionRow]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
        rows = []
        for row in csv.DictReader(handle):
            lat, lon = row.get("lat") or "", row.get("lon") or ""
            rows.append(
                RegionRow(
                    row["code"],
                    row["name"],
                    row["level"],
                    row.get("parent_code") or "",
                    float(lat) if lat else None,
                    float(lon) if lon else None,
                )
            )
        return rows


def address(index: int, host: int) -> str:
    """A unique 10.x.y.z management address for device ``host`` of site ``index``."""
    n = index * 8 + host
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class Fleet:
    """Builds sites, devices and links; rows are plain dicts in the import format."""

    def __init__(self, *, fibre_percent: int = 85) -> None:
        self.fibre_percent = fibre_percent
        self.index = 0

    def _next(self) -> int:
        self.index += 1
        return self.index

    def core(
        self, village_code: str, lat: float | None, lon: float | None, *, name: str = "banyuwangi"
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        i = self._next()
        yield (
            "sites",
            {
                "id": f"noc-{name}",
                "name": f"NOC Diskominfo {name.title()}",
                "kind": "noc",
                "village": village_code,
                "lat": lat,
                "lon": lon,
                "tags": ["core"],
            },
        )
        yield (
            "devices",
            {
                "id": "core-noc",
                "site": f"noc-{name}",
                "role": "router",
                "address": address(i, 1),
                "snmp": "village-v3",
                "vendor": "mikrotik",
                "device_type": "mikrotik_routeros",
                "tags": ["core"],
            },
        )
        yield (
            "devices",
            {
                "id": "ups-noc",
                "site": f"noc-{name}",
                "role": "ups",
                "address": address(i, 2),
                "snmp": "public-v2",
            },
        )

    def district(self, kec: RegionRow, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
        s = slug(kec.name)
        i = self._next()
        pop = f"pop-{s}"
        yield (
            "sites",
            {
                "id": pop,
                "name": f"PoP {kec.name}",
                "kind": "pop",
                "village": kec.code,
                "lat": kec.lat,
                "lon": kec.lon,
            },
        )
        yield (
            "devices",
            {
                "id": f"rtr-pop-{s}",
                "site": pop,
                "role": "router",
                "address": address(i, 1),
                "snmp": "village-v3",
                "vendor": "mikrotik",
                "device_type": "mikrotik_routeros",
            },
        )
        yield (
            "devices",
            {
                "id": f"olt-{s}",
                "site": pop,
                "role": "olt",
                "address": address(i, 2),
                "snmp": "village-v3",
                "vendor": "zte",
            },
        )
        yield (
            "links",
            {
                "id": f"fo-noc-{s}",
                "medium": "fibre",
                "a": {"device": "core-noc", "interface": f"sfp-sfpplus{n}"},
                "z": {"device": f"rtr-pop-{s}", "interface": "sfp-sfpplus1"},
                "provider": "Diskominfo",
                "capacity_bps": 10_000_000_000,
                "uplink_of": pop,
            },
        )
        office = f"kantor-kecamatan-{s}"
        j = self._next()
        yield (
            "sites",
            {
                "id": office,
                "name": f"Kantor Kecamatan {kec.name}",
                "kind": "district_office",
                "village": kec.code,
                "lat": kec.lat,
                "lon": kec.lon,
            },
        )
        yield (
            "devices",
            {
                "id": f"ont-kec-{s}",
                "site": office,
                "role": "ont",
                "address": address(j, 1),
                "snmp": "public-v2",
                "vendor": "zte",
            },
        )
        yield (
            "devices",
            {
                "id": f"rtr-kec-{s}",
                "site": office,
                "role": "router",
                "address": address(j, 2),
                "snmp": "village-v3",
                "parent": f"ont-kec-{s}",
                "vendor": "mikrotik",
                "device_type": "mikrotik_routeros",
            },
        )
        yield (
            "links",
            {
                "id": f"fo-{s}-kecamatan",
                "medium": "fibre",
                "a": {"device": f"olt-{s}", "interface": "gpon0/0"},
                "z": {"device": f"ont-kec-{s}", "interface": "pon0"},
                "provider": "Diskominfo",
                "capacity_bps": 1_000_000_000,
                "uplink_of": office,
            },
        )

    def village(
        self, v: RegionRow, kec: RegionRow, port: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        ks, vs = slug(kec.name), slug(v.name)
        kind = "kelurahan_office" if v.level == "kelurahan" else "village_office"
        prefix = "kantor-kelurahan" if kind == "kelurahan_office" else "kantor-desa"
        site = f"{prefix}-{vs}"
        tag = vs
        if len(vs) > 30 or self.seen_site(tag):
            tag = f"{vs[:30].strip('-')}-{v.code.replace('.', '')[-6:]}"
            site = f"{prefix}-{tag}"
        self.mark_site(tag)
        key = v.code
        i = self._next()
        fac = {
            "reading_corner": chance(key + "rc", 80),
            "waiting_room": chance(key + "wr", 88),
            "lactation_room": chance(key + "lr", 62),
            "operators_trained": pick(key + "op", 4) if chance(key + "op?", 92) else 0,
            "kiosks_planned": 1,
        }
        label = "Kantor Kelurahan" if kind == "kelurahan_office" else "Kantor Desa"
        yield (
            "sites",
            {
                "id": site,
                "name": f"{label} {v.name}",
                "kind": kind,
                "village": v.code,
                "lat": v.lat,
                "lon": v.lon,
                "facilities": fac,
                "attested_by": ATTESTED_BY,
                "attested_at": ATTESTED_AT,
                "attestation_expires": EXPIRES_AT,
            },
        )
        ont, rtr = f"ont-{tag}", f"rtr-{tag}"
        fibre = chance(key + "fibre", self.fibre_percent)
        yield (
            "devices",
            {
                "id": ont,
                "site": site,
                "role": "ont",
                "address": address(i, 1),
                "snmp": "public-v2",
                "vendor": "zte",
            },
        )
        yield (
            "devices",
            {
                "id": rtr,
                "site": site,
                "role": "router",
                "address": address(i, 2),
                "snmp": "village-v3",
                "parent": ont,
                "vendor": "mikrotik",
                "device_type": "mikrotik_routeros",
            },
        )
        yield (
            "devices",
            {
                "id": f"ups-{tag}",
                "site": site,
                "role": "ups",
                "address": address(i, 3),
                "snmp": "public-v2",
                "parent": rtr,
            },
        )
        yield (
            "devices",
            {
                "id": f"kiosk-{tag}-1",
                "site": site,
                "role": "kiosk",
                "address": address(i, 4),
                "snmp": "public-v2",
                "ssh": "kiosk",
                "device_type": "linux",
                "parent": rtr,
                "tags": ["kiosk", "anjungan"],
            },
        )
        medium = "fibre" if fibre else ("radio" if chance(key + "radio", 60) else "lte")
        yield (
            "links",
            {
                "id": f"{'fo' if fibre else medium}-{ks}-{tag}"[:64].strip("-"),
                "medium": medium,
                "a": {"device": f"olt-{ks}", "interface": f"gpon0/{port}"},
                "z": {"device": ont, "interface": "pon0"},
                "provider": "Diskominfo" if fibre else "Telkomsel",
                "capacity_bps": 100_000_000 if fibre else 20_000_000,
                "uplink_of": site,
            },
        )

    _sites: set[str]

    def seen_site(self, site: str) -> bool:
        return site in getattr(self, "_sites", set())

    def mark_site(self, site: str) -> None:
        if not hasattr(self, "_sites"):
            self._sites = set()
        self._sites.add(site)

    def extra_site(
        self, *, site: str, name: str, kind: str, region: RegionRow, kec_slug: str, port: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        i = self._next()
        yield (
            "sites",
            {
                "id": site,
                "name": name,
                "kind": kind,
                "village": region.code,
                "lat": region.lat,
                "lon": region.lon,
            },
        )
        yield (
            "devices",
            {
                "id": f"ont-{site}"[:64],
                "site": site,
                "role": "ont",
                "address": address(i, 1),
                "snmp": "public-v2",
            },
        )
        yield (
            "devices",
            {
                "id": f"rtr-{site}"[:64],
                "site": site,
                "role": "router",
                "address": address(i, 2),
                "snmp": "village-v3",
                "parent": f"ont-{site}"[:64],
                "device_type": "mikrotik_routeros",
            },
        )
        yield (
            "links",
            {
                "id": f"fo-{kec_slug}-{site}"[:64].strip("-"),
                "medium": "fibre",
                "a": {"device": f"olt-{kec_slug}", "interface": f"gpon0/{port}"},
                "z": {"device": f"ont-{site}"[:64], "interface": "pon0"},
                "provider": "Diskominfo",
                "capacity_bps": 100_000_000,
                "uplink_of": site,
            },
        )


MANAGEMENT_NETWORKS = ["10.0.0.0/8"]  # where address() puts every device
CREDENTIALS = {
    "snmp": {
        "public-v2": {"version": "2c", "community_env": "KTG_SNMP_COMMUNITY",
                      "allowed_networks": MANAGEMENT_NETWORKS},
        "village-v3": {
            "version": "3",
            "user": "monitor",
            "auth": "sha",
            "auth_key_env": "KTG_SNMP_AUTH",
            "priv": "aes",
            "priv_key_env": "KTG_SNMP_PRIV",
            "allowed_networks": MANAGEMENT_NETWORKS,
        },
    },
    "ssh": {"kiosk": {"username": "kentongan", "key_file": "/etc/kentongan/kiosk_ed25519",
                      "allowed_networks": MANAGEMENT_NETWORKS}},
}


def banyuwangi(regions: list[RegionRow], health_csv: Path) -> dict[str, list[dict[str, Any]]]:
    """The sample inventory of Kabupaten Banyuwangi."""
    out: dict[str, list[dict[str, Any]]] = {"sites": [], "devices": [], "links": []}
    fleet = Fleet(fibre_percent=84)
    kecs = [r for r in regions if r.level == "kecamatan"]
    by_kec: dict[str, list[RegionRow]] = {}
    for r in regions:
        if r.level in ("desa", "kelurahan"):
            by_kec.setdefault(r.parent_code, []).append(r)
    town = next(r for r in regions if r.level == "kelurahan" and r.parent_code == "35.10.16")
    for kind, row in fleet.core(town.code, town.lat, town.lon):
        out[kind].append(row)
    ports: dict[str, int] = {}
    for n, kec in enumerate(kecs, 1):
        for kind, row in fleet.district(kec, n):
            out[kind].append(row)
        for v in by_kec.get(kec.code, []):
            ports[kec.code] = ports.get(kec.code, 0) + 1
            for kind, row in fleet.village(v, kec, ports[kec.code]):
                out[kind].append(row)
    kec_by_name = {k.name.lower(): k for k in kecs}
    with open(health_csv, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            kec = kec_by_name[row["kecamatan"].lower()]
            ports[kec.code] = ports.get(kec.code, 0) + 1
            site = slug(row["name"])
            for kind, item in fleet.extra_site(
                site=site,
                name=row["name"],
                kind="health_site",
                region=kec,
                kec_slug=slug(kec.name),
                port=ports[kec.code],
            ):
                out[kind].append(item)
    kota = next(k for k in kecs if k.code == "35.10.16")
    for name in GOVERNMENT_UNITS:
        ports[kota.code] = ports.get(kota.code, 0) + 1
        for kind, item in fleet.extra_site(
            site=f"opd-{slug(name, 40)}",
            name=name,
            kind="government_unit",
            region=kota,
            kec_slug=slug(kota.name),
            port=ports[kota.code],
        ):
            out[kind].append(item)
    ports[kota.code] += 1
    for kind, item in fleet.extra_site(
        site="mal-pelayanan-publik",
        name="Mal Pelayanan Publik Banyuwangi",
        kind="service_mall",
        region=town,
        kec_slug=slug(kota.name),
        port=ports[kota.code],
    ):
        out[kind].append(item)
    return out


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None and v != []}


def write_yaml(inventory: dict[str, list[dict[str, Any]]], out: Path) -> None:
    doc = {
        "credentials": CREDENTIALS,
        "sites": [_clean(s) for s in inventory["sites"]],
        "devices": [_clean(d) for d in inventory["devices"]],
        "links": [_clean(link) for link in inventory["links"]],
        "maintenance": [
            {
                "id": "noc-mingguan",
                "scope": "site",
                "target": "noc-banyuwangi",
                "weekdays": "sun",
                "start_time": "01:00",
                "duration_minutes": 120,
                "reason": "Pemeliharaan mingguan NOC / weekly NOC maintenance",
            },
        ],
    }
    header = (
        "# Kentongan sample inventory: Kabupaten Banyuwangi (generated by examples/generate.py;\n"
        "# region codes and names: Kepmendagri via cahyadsn/wilayah, MIT; see SOURCES.md).\n"
        "# Facilities are sample attestations, not survey results.\n"
    )
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    out.write_text(header + text, encoding="utf-8")


SITE_COLUMNS = [
    "id",
    "name",
    "kind",
    "village",
    "lat",
    "lon",
    "tags",
    "reading_corner",
    "waiting_room",
    "lactation_room",
    "operators_trained",
    "kiosks_planned",
    "attested_by",
    "attested_at",
    "attestation_expires",
]
DEVICE_COLUMNS = [
    "id",
    "site",
    "role",
    "address",
    "snmp",
    "ssh",
    "device_type",
    "vendor",
    "parent",
    "tags",
]
LINK_COLUMNS = [
    "id",
    "medium",
    "a_device",
    "a_interface",
    "z_device",
    "z_interface",
    "provider",
    "capacity_bps",
    "uplink_of",
]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def synthetic(villages: int, out: Path, *, national: Path) -> dict[str, int]:
    """Stream a national-size fleet as CSV files in ``out``; return row counts."""
    out.mkdir(parents=True, exist_ok=True)
    admin = read_regions(national / "admin_units.csv.gz")
    kec_by_code = {r.code: r for r in admin if r.level == "kecamatan"}
    counts = {"sites": 0, "devices": 0, "links": 0}
    fleet = Fleet()
    files = {
        k: open(out / f"{k}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
        for k in counts
    }
    writers = {k: csv.writer(f) for k, f in files.items()}
    writers["sites"].writerow(SITE_COLUMNS)
    writers["devices"].writerow(DEVICE_COLUMNS)
    writers["links"].writerow(LINK_COLUMNS)
    (out / "credentials.yaml").write_text(yaml.safe_dump({"credentials": CREDENTIALS}))

    def emit(kind: str, row: dict[str, Any]) -> None:
        counts[kind] += 1
        if kind == "sites":
            fac = row.pop("facilities", {})
            row = {**row, **fac}
            writers[kind].writerow([_cell(row.get(c)) for c in SITE_COLUMNS])
        elif kind == "devices":
            writers[kind].writerow([_cell(row.get(c)) for c in DEVICE_COLUMNS])
        else:
            flat = {
                **row,
                "a_device": row["a"]["device"],
                "a_interface": row["a"]["interface"],
                "z_device": row["z"]["device"],
                "z_interface": row["z"]["interface"],
            }
            writers[kind].writerow([_cell(flat.get(c)) for c in LINK_COLUMNS])

    core_done = False
    seen_kec: dict[str, int] = {}
    used = 0
    with gzip.open(national / "villages.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if used >= villages:
                break
            v = RegionRow(row["code"], row["name"], row["level"], row["parent_code"], None, None)
            kec = kec_by_code[v.parent_code]
            if not core_done:
                for kind, item in fleet.core(v.code, None, None, name="nasional"):
                    emit(kind, item)
                core_done = True
            if kec.code not in seen_kec:
                seen_kec[kec.code] = 0
                ks = slug(kec.name)
                for kind, item in fleet.district(
                    RegionRow(
                        kec.code, f"{kec.name} {kec.code}", kec.level, kec.parent_code, None, None
                    ),
                    len(seen_kec),
                ):
                    item = dict(item)
                    emit(kind, _rename_kec(item, ks, kec.code))
            seen_kec[kec.code] += 1
            unique = RegionRow(
                v.code, f"{v.name} {v.code.replace('.', '')}", v.level, v.parent_code, None, None
            )
            kec_unique = RegionRow(
                kec.code, f"{kec.name} {kec.code}", kec.level, kec.parent_code, None, None
            )
            for kind, item in fleet.village(unique, kec_unique, seen_kec[kec.code]):
                emit(kind, item)
            used += 1
    for f in files.values():
        f.close()
    if used < villages:
        print(f"note: only {used} villages exist in the national list", file=sys.stderr)
    return counts


def _rename_kec(item: dict[str, Any], _ks: str, _code: str) -> dict[str, Any]:
    return item


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("banyuwangi", help="write the Banyuwangi sample inventory (YAML)")
    b.add_argument("--regions", type=Path, default=HERE / "banyuwangi" / "regions.csv")
    b.add_argument(
        "--health", type=Path, default=HERE / "banyuwangi" / "source" / "health_sites.csv"
    )
    b.add_argument("--out", type=Path, default=HERE / "banyuwangi" / "inventory.yaml")
    s = sub.add_parser("synthetic", help="write a national-size synthetic fleet (CSV)")
    s.add_argument("--villages", type=int, default=83_000)
    s.add_argument("--national", type=Path, default=HERE / "indonesia")
    s.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "banyuwangi":
        inventory = banyuwangi(read_regions(args.regions), args.health)
        write_yaml(inventory, args.out)
        print(f"wrote {args.out}: " + ", ".join(f"{len(v)} {k}" for k, v in inventory.items()))
    else:
        counts = synthetic(args.villages, args.out, national=args.national)
        print(f"wrote {args.out}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
