#!/usr/bin/env python3
"""Inventory import at national scale: SQLite and PostgreSQL, rows/s and peak memory.

    .venv/bin/python benchmarks/inventory_import.py            # 83,762 villages
    .venv/bin/python benchmarks/inventory_import.py --villages 20000 --villages 83762

For each size it writes a synthetic fleet (examples/generate.py: per village an office,
ONT, router, UPS and kiosk, per kecamatan a PoP and a district office, the fibre tree),
then imports regions (the whole country) + fleet with ``kentongan inventory import`` in a
fresh process per database, and reads that process's peak RSS. The peer is the raw bulk
load a user might script instead, with no validation, no reference checks and no diff:
``COPY`` into PostgreSQL, ``executemany`` into SQLite. Ratio = Kentongan time / raw time.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG = os.environ.get(
    "KENTONGAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KENTONGAN = [sys.executable, "-m", "kentongan.cli"]


def count_rows(directory: Path) -> int:
    total = 0
    for path in directory.iterdir():
        if path.name.endswith(".csv"):
            with open(path, encoding="utf-8") as handle:
                total += sum(1 for _ in handle) - 1
        elif path.name.endswith(".csv.gz"):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                total += sum(1 for _ in handle) - 1
    return total


def pg_schema_url() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{PG}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run_kentongan(url: str, paths: list[Path]) -> tuple[float, float, float]:
    """Upgrade + import in a child process; return (import seconds, peak RSS MiB, CPU s)."""
    env = dict(os.environ, KENTONGAN_DATABASE_URL=url)
    subprocess.run([*KENTONGAN, "db", "upgrade"], env=env, check=True, capture_output=True)
    code = (
        "import resource,sys,time;from pathlib import Path;"
        "from sqlalchemy.orm import Session;from inventory.db import make_engine;"
        "from inventory.importer import import_paths;"
        f"e=make_engine({url!r});t=time.perf_counter();"
        "s=Session(e);r=import_paths(s,[Path(p) for p in sys.argv[1:]]);"
        "print(time.perf_counter()-t);"
        "u=resource.getrusage(resource.RUSAGE_SELF);"
        "print(u.ru_maxrss/1024);print(u.ru_utime+u.ru_stime)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, paths)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds, rss, cpu = out.stdout.split()
    return float(seconds), float(rss), float(cpu)


def raw_sqlite(path: Path, fleet: Path, national: Path) -> float:
    """The peer: load the same CSV rows into bare tables with executemany."""
    import sqlite3

    db = sqlite3.connect(path)
    t = time.perf_counter()
    for name, src in (
        ("admin", national / "admin_units.csv.gz"),
        ("villages", national / "villages.csv.gz"),
        ("sites", fleet / "sites.csv"),
        ("devices", fleet / "devices.csv"),
        ("links", fleet / "links.csv"),
    ):
        opener = gzip.open if src.name.endswith(".gz") else open
        with opener(src, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
            reader = csv.reader(handle)
            header = next(reader)
            cols = ", ".join(f'"{c}" TEXT' for c in header)
            db.execute(f'CREATE TABLE "{name}" ({cols})')
            marks = ", ".join("?" for _ in header)
            db.executemany(f'INSERT INTO "{name}" VALUES ({marks})', reader)
    db.commit()
    elapsed = time.perf_counter() - t
    db.close()
    return elapsed


def raw_postgres(fleet: Path, national: Path) -> float:
    """The peer: COPY the same CSVs into bare text tables."""
    import psycopg

    _url, schema = pg_schema_url()
    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, options=f"-csearch_path={schema}") as conn:
            t = time.perf_counter()
            for name, src in (
                ("admin", national / "admin_units.csv.gz"),
                ("villages", national / "villages.csv.gz"),
                ("sites", fleet / "sites.csv"),
                ("devices", fleet / "devices.csv"),
                ("links", fleet / "links.csv"),
            ):
                opener = gzip.open if src.name.endswith(".gz") else open
                with opener(src, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
                    header = next(csv.reader([handle.readline()]))
                    cols = ", ".join(f'"{c}" text' for c in header)
                    conn.execute(f'CREATE TABLE "{name}" ({cols})')
                    with conn.cursor().copy(f'COPY "{name}" FROM STDIN WITH (FORMAT csv)') as cp:
                        while chunk := handle.read(1 << 20):
                            cp.write(chunk)
            conn.commit()
            return time.perf_counter() - t
    finally:
        drop_schema(schema)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--villages",
        type=int,
        action="append",
        help="fleet size(s) in villages (repeatable; default 83762)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per database (median)")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    sizes = args.villages or [83_762]
    national = ROOT / "examples" / "indonesia"
    print(
        f"{'villages':>9} {'db':>10} {'rows':>9} {'seconds':>8} {'rows/s':>8} "
        f"{'cpu s':>6} {'peak MiB':>8} {'raw s':>6} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="ktg-bench-") as tmp:
        for villages in sizes:
            fleet = Path(tmp) / f"fleet-{villages}"
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "examples" / "generate.py"),
                    "synthetic",
                    "--villages",
                    str(villages),
                    "--out",
                    str(fleet),
                ],
                check=True,
                capture_output=True,
            )
            rows = count_rows(fleet) + count_rows(national)
            paths = [national, fleet]
            dbs = ["sqlite"] if args.skip_postgres else ["sqlite", "postgresql"]
            for db in dbs:
                times, peaks, cpus = [], [], []
                for n in range(args.repeat):
                    if db == "sqlite":
                        url = f"sqlite:///{tmp}/k-{villages}-{n}.db"
                        seconds, rss, cpu = run_kentongan(url, paths)
                    else:
                        url, schema = pg_schema_url()
                        try:
                            seconds, rss, cpu = run_kentongan(url, paths)
                        finally:
                            drop_schema(schema)
                    times.append(seconds)
                    peaks.append(rss)
                    cpus.append(cpu)
                raw = (
                    raw_sqlite(Path(tmp) / f"raw-{villages}.db", fleet, national)
                    if db == "sqlite"
                    else raw_postgres(fleet, national)
                )
                med = statistics.median(times)
                print(
                    f"{villages:>9,} {db:>10} {rows:>9,} {med:>8.1f} {rows / med:>8,.0f} "
                    f"{statistics.median(cpus):>6.1f} {max(peaks):>8.0f} {raw:>6.1f} "
                    f"{med / raw:>6.1f}",
                    flush=True,
                )
    print("cpu s = the importing process's own CPU time (the database server's is not in it)")
    print("ratio = Kentongan validated, diffed, all-or-nothing import / raw unvalidated load")
    print(
        f"benchmark process peak RSS: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
