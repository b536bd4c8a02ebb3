"""Version numbers compared properly: ``2.10.0 > 2.9.1``, ``2.4.0-rc1 < 2.4.0``."""

from __future__ import annotations

import re
from functools import lru_cache

_VERSION = re.compile(
    r"^\s*v?(?P<nums>\d+(?:\.\d+)*)(?:[-.+~]?(?P<pre>(?:a|alpha|b|beta|rc|pre|dev)\.?\d*))?"
    r"(?:\+[0-9A-Za-z.-]+)?\s*$",
    re.IGNORECASE,
)
_PRE_ORDER = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "pre": 3, "rc": 3}

Version = tuple[tuple[int, ...], tuple[int, int]]


def parse_version(text: str | None) -> Version | None:
    """Parse ``text`` into a comparable key; None when it is not a version number."""
    if text is None:
        return None
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Version | None:
    match = _VERSION.match(text)
    if match is None:
        return None
    nums = tuple(int(n) for n in match.group("nums").split("."))
    while len(nums) > 1 and nums[-1] == 0:
        nums = nums[:-1]
    pre = match.group("pre")
    if pre is None:
        return nums, (9, 0)
    word = re.match(r"[a-z]+", pre.lower())
    tag = word.group(0) if word else "pre"
    number = re.search(r"\d+", pre)
    return nums, (_PRE_ORDER.get(tag, 3), int(number.group(0)) if number else 0)


def version_at_least(version: str | None, minimum: str) -> bool | None:
    """True/False when both parse; None when ``version`` is missing or unparseable."""
    have, need = parse_version(version), parse_version(minimum)
    if have is None or need is None:
        return None
    return have >= need
