"""Reading inventory files: YAML (with line numbers) and CSV (streamed, kind by header).

A *record* is one item of one kind with where it came from. Reading never touches the
database; problems are reported as :class:`inventory.errors.Problem` values.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inventory.errors import Problem

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is in the wheels
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

KINDS = ("regions", "snmp_profiles", "ssh_profiles", "sites", "devices", "links", "maintenance")

#: CSV headers: a file is of the first kind whose marker columns it has.
CSV_MARKERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("links", frozenset({"id", "a_device", "z_device"})),
    ("devices", frozenset({"id", "site", "role"})),
    ("sites", frozenset({"id", "kind", "village"})),
    ("maintenance", frozenset({"id", "scope", "target"})),
    ("snmp_profiles", frozenset({"name", "version"})),
    ("ssh_profiles", frozenset({"name", "username"})),
    ("regions", frozenset({"code", "name", "level"})),
)

INVENTORY_SUFFIXES = (".yaml", ".yml", ".csv", ".csv.gz")


@dataclass(slots=True)
class Record:
    """One item to import."""

    kind: str
    file: str
    line: int
    data: dict[str, Any]
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, field_name: str | None) -> int:
        if field_name and field_name in self.field_lines:
            return self.field_lines[field_name]
        return self.line


@dataclass(slots=True)
class Source:
    """Records of one kind from one file, read lazily (CSV) or already parsed (YAML)."""

    kind: str
    file: str
    records: Iterator[Record]
    size: int = 0


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    """Files named directly, and the inventory files inside named directories (sorted)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.name.endswith(INVENTORY_SUFFIXES)
            )
            if not found:
                problems.append(Problem(str(path), None, "-", "directory has no .yaml/.csv files"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(str(path), None, "-", "no such file"))
    return files, problems


def _decode_error(name: str, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    line = raw.count(b"\n", 0, exc.start) + 1
    return Problem(
        name,
        line,
        "-",
        f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
    )


def open_sources(path: Path, problems: list[Problem]) -> list[Source]:
    """Parse a YAML file or sniff a CSV file; append problems instead of raising."""
    name = str(path)
    lower = path.name.lower()
    if lower.endswith((".yaml", ".yml")):
        return _yaml_sources(path, problems)
    if lower.endswith((".csv", ".csv.gz")):
        source = _csv_source(path, problems)
        return [source] if source else []
    problems.append(
        Problem(name, None, "-", "unknown file type (use .yaml, .yml, .csv or .csv.gz)")
    )
    return []


def _node_value(loader: Any, node: yaml.Node) -> Any:
    return loader.construct_object(node, deep=True)


def _mapping_lines(node: yaml.Node) -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[str(key.value)] = value.start_mark.line + 1
    return lines


def duplicate_keys(name: str, root: yaml.Node) -> list[Problem]:
    """Keys given twice in one mapping, anywhere under ``root``: YAML loaders keep the last
    silently, so a second ``address:`` would quietly win. Each names both lines."""
    found: list[Problem] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "-")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, where) for item in reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    text = str(key.value)
                    if text == "<<" and key.tag == "tag:yaml.org,2002:merge":
                        continue
                    if text in first:
                        found.append(
                            Problem(
                                name,
                                line,
                                text,
                                f"duplicate key {text!r} (lines {first[text]} and {line}); "
                                "keep one",
                            )
                        )
                    else:
                        first[text] = line
                    stack.append((value, text))
                else:
                    stack.append((value, where))
    found.sort(key=lambda p: p.line or 0)
    return found


def _yaml_sources(path: Path, problems: list[Problem]) -> list[Source]:
    name = str(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(_decode_error(name, raw, exc))
        return []
    if not text.strip():
        problems.append(Problem(name, None, "-", "file is empty"))
        return []
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(name, line, "-", f"malformed YAML: {problem}"))
        return []
    finally:
        loader.dispose()
    if root is None:
        problems.append(Problem(name, None, "-", "file is empty"))
        return []
    if not isinstance(root, yaml.MappingNode):
        problems.append(
            Problem(
                name,
                root.start_mark.line + 1,
                "-",
                "top level must be a mapping of "
                "sites/devices/links/credentials/maintenance/regions",
            )
        )
        return []
    duplicates = duplicate_keys(name, root)
    if duplicates:
        problems.extend(duplicates)
        return []
    loader = _Loader("")
    by_kind: dict[str, list[Record]] = {}
    for key_node, value_node in root.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key == "credentials":
            _yaml_credentials(loader, name, value_node, by_kind, problems)
            continue
        if key not in ("regions", "sites", "devices", "links", "maintenance"):
            problems.append(
                Problem(
                    name,
                    line,
                    key,
                    "unknown section (expected sites, devices, links, "
                    "credentials, maintenance or regions)",
                )
            )
            continue
        if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            problems.append(Problem(name, line, key, "must be a list of items"))
            continue
        by_kind.setdefault(key, [])  # an empty list is an input (``--prune`` guards it)
        for item in value_node.value:
            item_line = item.start_mark.line + 1
            if not isinstance(item, yaml.MappingNode):
                problems.append(Problem(name, item_line, key, "each item must be a mapping"))
                continue
            try:
                data = _node_value(loader, item)
            except yaml.YAMLError as exc:
                problems.append(Problem(name, item_line, key, f"malformed YAML: {exc}"))
                continue
            by_kind.setdefault(key, []).append(
                Record(key, name, item_line, data, _mapping_lines(item))
            )
    loader.dispose()
    return [Source(kind, name, iter(records), len(records)) for kind, records in by_kind.items()]


def _yaml_credentials(
    loader: Any,
    name: str,
    node: yaml.Node,
    by_kind: dict[str, list[Record]],
    problems: list[Problem],
) -> None:
    if not isinstance(node, yaml.MappingNode):
        problems.append(
            Problem(
                name,
                node.start_mark.line + 1,
                "credentials",
                "must be a mapping with snmp: and/or ssh:",
            )
        )
        return
    for proto_node, profiles in node.value:
        proto = str(proto_node.value)
        kind = {"snmp": "snmp_profiles", "ssh": "ssh_profiles"}.get(proto)
        line = proto_node.start_mark.line + 1
        if kind is None:
            problems.append(Problem(name, line, f"credentials.{proto}", "expected snmp or ssh"))
            continue
        if not isinstance(profiles, yaml.MappingNode):
            problems.append(
                Problem(name, line, f"credentials.{proto}", "must map profile names to settings")
            )
            continue
        for key_node, value_node in profiles.value:
            pline = key_node.start_mark.line + 1
            if not isinstance(value_node, yaml.MappingNode):
                problems.append(
                    Problem(
                        name, pline, f"credentials.{proto}.{key_node.value}", "must be a mapping"
                    )
                )
                continue
            data = dict(_node_value(loader, value_node))
            data.setdefault("name", str(key_node.value))
            by_kind.setdefault(kind, []).append(
                Record(kind, name, pline, data, _mapping_lines(value_node))
            )


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _csv_source(path: Path, problems: list[Problem]) -> Source | None:
    name = str(path)
    try:
        with _open_text(path) as handle:
            header_line = handle.readline()
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, 1, "-", f"not UTF-8 ({exc.reason}); save the file as UTF-8"))
        return None
    except (OSError, EOFError) as exc:
        problems.append(Problem(name, None, "-", f"cannot read: {exc}"))
        return None
    if not header_line.strip():
        problems.append(Problem(name, None, "-", "file is empty"))
        return None
    header = next(csv.reader([header_line.lstrip("\ufeff")]))
    columns = {h.strip() for h in header}
    kind = next((k for k, marker in CSV_MARKERS if marker <= columns), None)
    if kind is None:
        problems.append(
            Problem(
                name,
                1,
                "-",
                "cannot tell what this CSV holds from its header "
                f"({', '.join(header)}); see README for the columns of each kind",
            )
        )
        return None
    return Source(kind, name, _csv_records(path, kind, problems), path.stat().st_size)


def _csv_records(path: Path, kind: str, problems: list[Problem]) -> Iterator[Record]:
    name = str(path)
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        line = 0
        try:
            header = [h.strip().lstrip("\ufeff") for h in next(reader)]
            line = reader.line_num
            width = len(header)
            for row in reader:
                start = line + 1
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != width:
                    problems.append(
                        Problem(
                            name, start, "-", f"{len(row)} columns where the header has {width}"
                        )
                    )
                    continue
                data = {k: v for k, v in zip(header, row, strict=True) if v != ""}
                yield Record(kind, name, start, data)
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(name, line + 1, "-", f"not UTF-8 ({exc.reason}); save the file as UTF-8")
            )
        except csv.Error as exc:
            problems.append(Problem(name, line + 1, "-", f"malformed CSV: {exc}"))
