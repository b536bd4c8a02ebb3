"""A fast writer of the Prometheus text exposition format (version 0.0.4).

prometheus_client renders each sample through a dict of labels, sorting and escaping every
label on every line (about 16-21 µs a series). Kentongan's series share their label sets:
every interface series of a device repeats the device's labels. So the label text of a
device (and of each of its interfaces) is escaped once per scrape into a :class:`LabelSet`,
and each sample line is one string concatenation. The same :class:`Family` values also
convert to prometheus_client metric families (:func:`to_metric`), which is how the custom
collector's ``collect()`` serves a ``CollectorRegistry`` and how the tests check that both
renderings carry the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_HELP_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n"})


def escape_label_value(value: str) -> str:
    """Escape a label value for the text format: backslash, double quote and newline."""
    return value.translate(_ESCAPES)


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_ESCAPES)
    return value


def format_value(value: float | int | bool) -> str:
    """A sample value as Prometheus writes it (``+Inf``, ``-Inf``, ``NaN``, ints exact)."""
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if value != value:
        return "NaN"
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    return repr(float(value))


class LabelSet:
    """Label values with their escaped text (``a="x",b="y"``), rendered once and shared."""

    __slots__ = ("names", "text", "values")

    def __init__(self, names: Sequence[str], values: Sequence[str]) -> None:
        self.names: tuple[str, ...] = tuple(names)
        self.values: tuple[str, ...] = tuple(values)
        self.text = ",".join(
            f'{n}="{_escape(v)}"' for n, v in zip(names, self.values, strict=True)
        )

    def child(self, name: str, value: str) -> LabelSet:
        """A new label set with one more label (the hot path: one per interface)."""
        combined = LabelSet.__new__(LabelSet)
        combined.names = (*self.names, name)
        combined.values = (*self.values, value)
        pair = f'{name}="{_escape(value)}"'
        combined.text = f"{self.text},{pair}" if self.text else pair
        return combined

    def extend(self, names: Sequence[str], values: Sequence[str]) -> LabelSet:
        """A new label set with more labels appended (names must follow the family's order)."""
        combined = LabelSet.__new__(LabelSet)
        combined.names = self.names + tuple(names)
        combined.values = self.values + tuple(values)
        extra = ",".join(
            f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)
        )
        combined.text = f"{self.text},{extra}" if self.text and extra else self.text or extra
        return combined


@dataclass(slots=True)
class Family:
    """One metric family built for one scrape.

    ``name`` is the family name as prometheus_client spells it: counters without ``_total``
    and info families without ``_info`` (the writer appends the suffix). Samples pair a
    :class:`LabelSet` with a value; label sets may differ between samples (a device deeper
    in the fibre tree carries more ``upstream_N`` labels).
    """

    name: str
    type: str
    help: str
    samples: list[tuple[LabelSet, float | int]] = field(default_factory=list)

    @property
    def sample_name(self) -> str:
        """The name written on sample lines."""
        if self.type == "counter":
            return self.name + "_total"
        if self.type == "info":
            return self.name + "_info"
        return self.name

    def add(self, labels: LabelSet, value: float | int | bool | None) -> None:
        """Add a sample; ``None`` values are left out (unknown is not zero)."""
        if value is not None:
            self.samples.append((labels, value))


def render_text(families: Iterable[Family]) -> bytes:
    """Render families in text format 0.0.4, as prometheus_client's ``generate_latest`` would
    (same HELP/TYPE lines; labels in each family's own order rather than sorted)."""
    out: list[str] = []
    append = out.append
    for fam in families:
        name = fam.sample_name
        kind = "gauge" if fam.type == "info" else fam.type
        append(f"# HELP {name} {fam.help.translate(_HELP_ESCAPES)}\n# TYPE {name} {kind}\n")
        prefix = name + "{"
        bare = name + " "
        for labels, value in fam.samples:
            text = labels.text
            rendered = str(value) if type(value) is int else format_value(value)
            if text:
                append(f"{prefix}{text}}} {rendered}\n")
            else:
                append(f"{bare}{rendered}\n")
    return "".join(out).encode("utf-8")


def to_metric(fam: Family) -> Metric:
    """The same family as a prometheus_client metric family (for ``collect()``)."""
    metric: Metric
    if fam.type == "counter":
        metric = CounterMetricFamily(fam.name, fam.help)
    elif fam.type == "info":
        metric = InfoMetricFamily(fam.name, fam.help)
    else:
        metric = GaugeMetricFamily(fam.name, fam.help)
    sample_name = fam.sample_name
    for labels, value in fam.samples:
        metric.add_sample(sample_name, dict(zip(labels.names, labels.values, strict=True)), value)
    return metric
