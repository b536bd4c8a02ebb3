#!/usr/bin/python
"""Ansible module of Kentongan: query, measure, install and switch kiosk app releases."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: kiosk_release
short_description: Query, install (sha256-verified) and atomically switch kiosk app releases
description:
  - Every installed release C(ROOT/releases/V) carries a completeness marker
    C(.kentongan-installed) (JSON) with the tarball's sha256, an install sequence number and
    the sha256 of every file. A release counts as installed only when the marker is there and
    every file matches it; a partial or damaged directory is never switched to.
  - C(state=measure) (run on the controller) reports a tarball's size and the space its
    unpacked files take, so the kiosk can refuse before anything is copied.
  - C(state=query) removes leftovers of an interrupted run, reports the release C(current)
    points at, whether it is complete, and the release to roll back to (C(previous)): the
    current one when complete, else the release recorded in C(ROOT/previous) when current is
    already V (a run interrupted after the switch), else the newest other complete release.
    It fails (changing nothing) when C(space_needed) bytes are not free, or when C(current)
    is damaged and no complete release is left to roll back to.
  - C(state=installed) verifies the tarball's sha256 and the free space, unpacks it into a
    temporary directory, writes the marker, fsyncs files and directories and renames it to
    C(ROOT/releases/VERSION); the tarball is removed.
  - C(state=current) verifies the target, records the release it replaces in C(ROOT/previous),
    points C(ROOT/current) at the target through a temporary symlink and a rename (atomic),
    fsyncs the directory, then keeps only the newest C(keep) releases by install order
    (current and previous stay).
options:
  root: {description: Kiosk root directory., type: path, required: true}
  version: {description: Release version (directory name)., type: str, required: true}
  state:
    description: What to do.
    type: str
    choices: [query, measure, installed, current]
    default: query
  tarball:
    description: Release tarball (state=installed on the kiosk, measure on the controller).
    type: path
  sha256: {description: Expected sha256 of the tarball (state=installed)., type: str}
  target: {description: Directory current points at (default the release)., type: path}
  keep: {description: Releases to keep after switching (0 keeps all)., type: int, default: 0}
  space_needed:
    description: Bytes that must be free under ROOT/releases (state=query).
    type: int
    default: 0
  reserve:
    description: Bytes to leave free after unpacking (state=installed).
    type: int
    default: 0
  record_previous:
    description: Record the replaced release in ROOT/previous.
    type: bool
    default: true
author: Kentongan
"""

MARKER = ".kentongan-installed"
LEFTOVER_PREFIXES = (".unpack-", ".incoming")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(base: str) -> list[str]:
    found = []
    for dirpath, _dirs, names in os.walk(base):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), base)
            if rel != MARKER:
                found.append(rel)
    return sorted(found)


def read_marker(release: str) -> dict[str, Any] | None:
    """The marker of ``release`` as a dict, None when it is missing or unreadable."""
    try:
        with open(os.path.join(release, MARKER)) as fh:
            text = fh.read()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:  # a marker of the first format: only the tarball's sha256
        text = text.strip()
        return {"sha256": text, "seq": 0, "files": None} if text else None
    return data if isinstance(data, dict) else None


def verify(release: str) -> str:
    """Why ``release`` is not a complete release ("" when it is)."""
    if not os.path.isdir(release):
        return f"{release} is missing"
    marker = read_marker(release)
    if marker is None:
        return f"{release} has no completeness marker (partial or damaged)"
    files = marker.get("files")
    if files is None:
        return ""
    for rel, digest in files.items():
        path = os.path.join(release, rel)
        try:
            actual = _sha256(path)
        except OSError:
            return f"{release}: {rel} is missing"
        if actual != digest:
            return f"{release}: {rel} does not match its checksum"
    return ""


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(base: str) -> None:
    for dirpath, _dirs, names in os.walk(base):
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                _fsync_path(path)
        _fsync_path(dirpath)


def _free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _block(path: str) -> int:
    try:
        return max(os.statvfs(path).f_frsize, 512)
    except OSError:
        return 4096


def unpacked_bytes(tarball: str, block: int = 4096) -> int:
    """Space the members of ``tarball`` take once unpacked (rounded up to ``block``, one
    block per entry for its inode and directory entry, plus the marker)."""
    total = 2 * block
    with tarfile.open(tarball) as tar:
        for member in tar:
            total += block + -(-max(member.size, 0) // block) * block
    return total


def _safe_extract(tar: tarfile.TarFile, dest: str) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    base = os.path.realpath(dest)
    for member in tar.getmembers():
        path = os.path.realpath(os.path.join(dest, member.name))
        if not (path == base or path.startswith(base + os.sep)) or member.issym() or member.islnk():
            raise ValueError(f"unsafe member in release tarball: {member.name}")
    tar.extractall(dest)  # noqa: S202 - every member was checked above


def _link(root: str, name: str) -> str:
    link = os.path.join(root, name)
    return os.readlink(link) if os.path.islink(link) else ""


def _swap_link(root: str, name: str, target: str) -> None:
    """Point ``ROOT/name`` at ``target`` atomically (temporary symlink, rename, fsync)."""
    tmp_link = os.path.join(root, f".{name}.new")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(target, tmp_link)
    os.rename(tmp_link, os.path.join(root, name))
    _fsync_path(root)


def _complete_releases(releases: str) -> list[tuple[float, str]]:
    """(install sequence, path) of every release with a marker, oldest first."""
    found: list[tuple[float, str]] = []
    if not os.path.isdir(releases):
        return found
    for name in os.listdir(releases):
        path = os.path.join(releases, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        marker = read_marker(path)
        if marker is None:
            continue
        seq = float(marker.get("seq") or 0)
        if not seq:  # first-format marker: order by its time
            seq = -1.0 / max(os.path.getmtime(os.path.join(path, MARKER)), 1.0)
        found.append((seq, path))
    found.sort()
    return found


def _cleanup(root: str, releases: str) -> list[str]:
    """Remove what an interrupted run left behind (never a complete release)."""
    removed = []
    if os.path.isdir(releases):
        for name in os.listdir(releases):
            if name.startswith(LEFTOVER_PREFIXES):
                path = os.path.join(releases, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
                removed.append(name)
    for name in (".current.new", ".previous.new"):
        if os.path.lexists(os.path.join(root, name)):
            os.unlink(os.path.join(root, name))
            removed.append(name)
    return removed


def _prune(releases: str, keep: int, protect: set[str]) -> list[str]:
    done = []
    entries = _complete_releases(releases)
    excess = len(entries) - keep
    for _seq, path in entries:
        if excess <= 0:
            break
        if os.path.realpath(path) in protect:
            continue
        shutil.rmtree(path)
        done.append(os.path.basename(path))
        excess -= 1
    return done


def _rollback_target(root: str, releases: str, release: str) -> tuple[str, str]:
    """(path, reason current is unusable) of the release to roll back to ("" when none)."""
    current = _link(root, "current")
    problem = ""
    if current:
        current_path = os.path.join(root, current) if not os.path.isabs(current) else current
        if os.path.realpath(current_path) == os.path.realpath(release):
            recorded = _link(root, "previous")
            if recorded and not verify(recorded):
                return recorded, ""
        else:
            problem = verify(current_path)
            if not problem:
                return current, ""
    for _seq, path in reversed(_complete_releases(releases)):
        if os.path.realpath(path) != os.path.realpath(release) and not verify(path):
            return path, problem
    return "", problem


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            version=dict(type="str", required=True),
            state=dict(
                type="str", choices=["query", "measure", "installed", "current"], default="query"
            ),
            tarball=dict(type="path"),
            sha256=dict(type="str"),
            target=dict(type="path"),
            keep=dict(type="int", default=0),
            space_needed=dict(type="int", default=0),
            reserve=dict(type="int", default=0),
            record_previous=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root, version = p["root"], p["version"]
    if "/" in version or version in (".", "..") or not version:
        module.fail_json(msg=f"invalid release version {version!r}")

    if p["state"] == "measure":
        if not p["tarball"] or not os.path.isfile(p["tarball"]):
            module.fail_json(msg=f"release tarball {p['tarball']!r} not found")
        try:
            unpacked = unpacked_bytes(p["tarball"])
        except (OSError, tarfile.TarError) as exc:
            module.fail_json(msg=f"release tarball {p['tarball']} is not readable: {exc}")
        size = os.path.getsize(p["tarball"])
        module.exit_json(changed=False, size=size, unpacked=unpacked)

    releases = os.path.join(root, "releases")
    release = os.path.join(releases, version)
    installed = not verify(release)
    current = _link(root, "current")
    previous, problem = _rollback_target(root, releases, release)
    result = dict(changed=False, release=release, installed=installed, current=current,
                  current_version=os.path.basename(current) if current else "",
                  current_problem=problem,
                  previous=previous,
                  previous_version=os.path.basename(previous) if previous else "")

    if p["state"] == "query":
        removed = [] if module.check_mode else _cleanup(root, releases)
        result.update(changed=bool(removed), removed=removed)
        if current and problem and not previous and not installed:
            module.fail_json(
                msg=f"REFUSED release {version}: the current release is damaged ({problem}) "
                "and no complete release is left to roll back to; reinstall the current "
                "release on this kiosk by hand (or with kiosk_release_keep) first",
                **result,
            )
        if not installed and p["space_needed"] > 0 and os.path.isdir(releases):
            free = _free_bytes(releases)
            result["free_bytes"] = free
            if free < p["space_needed"]:
                module.fail_json(
                    msg=f"REFUSED release {version}: {free} bytes free under {releases}, "
                    f"{p['space_needed']} needed for the new release next to the current "
                    "one; free space on the kiosk (old logs, kiosk_release_keep) and resume",
                    **result,
                )
        module.exit_json(**result)

    if p["state"] == "installed":
        if installed:
            module.exit_json(**result)
        if module.check_mode:
            module.exit_json(**dict(result, changed=True))
        if not p["tarball"] or not p["sha256"]:
            module.fail_json(msg="state=installed needs tarball and sha256", **result)
        actual = _sha256(p["tarball"])
        if actual != p["sha256"].lower():
            module.fail_json(
                msg=f"checksum mismatch for release {version}: expected {p['sha256']}, "
                f"got {actual}",
                **result,
            )
        need = unpacked_bytes(p["tarball"], _block(releases)) + p["reserve"]
        free = _free_bytes(releases)
        if free < need:
            os.unlink(p["tarball"])
            module.fail_json(
                msg=f"REFUSED release {version}: {free} bytes free under {releases}, {need} "
                "needed to unpack it; nothing was changed",
                **result,
            )
        seq = int(max([s for s, _p in _complete_releases(releases) if s > 0] or [0])) + 1
        tmp = tempfile.mkdtemp(prefix=f".unpack-{version}-", dir=releases)
        try:
            with tarfile.open(p["tarball"]) as tar:
                _safe_extract(tar, tmp)
            os.chmod(tmp, 0o755)  # noqa: S103 - the app user reads the release
            files = {rel: _sha256(os.path.join(tmp, rel)) for rel in _files(tmp)}
            with open(os.path.join(tmp, MARKER), "w") as fh:
                json.dump({"version": version, "sha256": actual, "seq": seq, "files": files}, fh)
            _fsync_tree(tmp)
            if os.path.lexists(release):  # a damaged copy of this release
                shutil.rmtree(release)
            os.rename(tmp, release)
            _fsync_path(releases)
        except Exception as exc:  # leave nothing half-unpacked behind
            shutil.rmtree(tmp, ignore_errors=True)
            module.fail_json(msg=f"cannot unpack release {version}: {exc}", **result)
        os.unlink(p["tarball"])
        module.exit_json(**dict(result, changed=True, installed=True, sha256=actual))

    target = p["target"] or release
    if current == target:
        module.exit_json(**result)
    problem = verify(target)
    if problem:
        module.fail_json(msg=f"refusing to switch current to an incomplete release: {problem}",
                         **result)
    if module.check_mode:
        module.exit_json(**dict(result, changed=True, current=target))
    if p["record_previous"] and previous and previous != target:
        _swap_link(root, "previous", previous)
    _swap_link(root, "current", target)
    pruned = []
    if p["keep"] > 0:
        protect = {os.path.realpath(target)}
        if previous:
            protect.add(os.path.realpath(previous))
        recorded = _link(root, "previous")
        if recorded:
            protect.add(os.path.realpath(recorded))
        pruned = _prune(releases, p["keep"], protect)
    module.exit_json(**dict(result, changed=True, current=target, pruned=pruned))


if __name__ == "__main__":
    main()
