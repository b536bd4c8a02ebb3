#!/usr/bin/python
"""Ansible module of Kentongan: query, install and switch kiosk app releases."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: kiosk_release
short_description: Query, install (sha256-verified) and atomically switch kiosk app releases
description:
  - C(state=query) reports the release C(ROOT/current) points at and whether release
    C(version) is installed under C(ROOT/releases).
  - C(state=installed) verifies the tarball's sha256, unpacks it into a temporary directory,
    marks it complete and renames it to C(ROOT/releases/VERSION); the tarball is removed.
  - C(state=current) points C(ROOT/current) at the release through a temporary symlink and
    a rename (atomic), then keeps only the newest C(keep) releases (current and previous stay).
options:
  root: {description: Kiosk root directory., type: path, required: true}
  version: {description: Release version (directory name)., type: str, required: true}
  state: {description: What to do., type: str, choices: [query, installed, current], default: query}
  tarball: {description: Release tarball on the kiosk (state=installed)., type: path}
  sha256: {description: Expected sha256 of the tarball (state=installed)., type: str}
  target: {description: Directory current points at (default the release)., type: path}
  keep: {description: Releases to keep after switching (0 keeps all)., type: int, default: 0}
author: Kentongan
"""

MARKER = ".kentongan-installed"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_extract(tar, dest):
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    base = os.path.realpath(dest)
    for member in tar.getmembers():
        path = os.path.realpath(os.path.join(dest, member.name))
        if not (path == base or path.startswith(base + os.sep)) or member.issym() or member.islnk():
            raise ValueError(f"unsafe member in release tarball: {member.name}")
    tar.extractall(dest)  # noqa: S202 - every member was checked above


def _current(root):
    link = os.path.join(root, "current")
    return os.readlink(link) if os.path.islink(link) else ""


def _prune(releases, keep, protect):
    done = []
    entries = []
    for name in os.listdir(releases):
        path = os.path.join(releases, name)
        marker = os.path.join(path, MARKER)
        if name.startswith(".") or not os.path.isdir(path) or not os.path.exists(marker):
            continue
        entries.append((os.path.getmtime(marker), path))
    entries.sort()
    excess = len(entries) - keep
    for _mtime, path in entries:
        if excess <= 0:
            break
        if os.path.realpath(path) in protect:
            continue
        shutil.rmtree(path)
        done.append(os.path.basename(path))
        excess -= 1
    return done


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            version=dict(type="str", required=True),
            state=dict(type="str", choices=["query", "installed", "current"], default="query"),
            tarball=dict(type="path"),
            sha256=dict(type="str"),
            target=dict(type="path"),
            keep=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root, version = p["root"], p["version"]
    if "/" in version or version in (".", "..") or not version:
        module.fail_json(msg=f"invalid release version {version!r}")
    releases = os.path.join(root, "releases")
    release = os.path.join(releases, version)
    installed = os.path.exists(os.path.join(release, MARKER))
    current = _current(root)
    result = dict(changed=False, release=release, installed=installed, current=current,
                  previous=current, previous_version=os.path.basename(current) if current else "")

    if p["state"] == "query":
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
        tmp = tempfile.mkdtemp(prefix=f".unpack-{version}-", dir=releases)
        try:
            with tarfile.open(p["tarball"]) as tar:
                _safe_extract(tar, tmp)
            os.chmod(tmp, 0o755)  # noqa: S103 - the app user reads the release
            with open(os.path.join(tmp, MARKER), "w") as fh:
                fh.write(actual + "\n")
            if os.path.lexists(release):
                shutil.rmtree(release)
            os.rename(tmp, release)
        except Exception as exc:  # leave nothing half-unpacked behind
            shutil.rmtree(tmp, ignore_errors=True)
            module.fail_json(msg=f"cannot unpack release {version}: {exc}", **result)
        os.unlink(p["tarball"])
        module.exit_json(**dict(result, changed=True, installed=True, sha256=actual))

    target = p["target"] or release
    if current == target:
        module.exit_json(**result)
    if module.check_mode:
        module.exit_json(**dict(result, changed=True, current=target))
    tmp_link = os.path.join(root, ".current.new")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(target, tmp_link)
    os.rename(tmp_link, os.path.join(root, "current"))
    pruned = []
    if p["keep"] > 0:
        protect = {os.path.realpath(target)}
        if current:
            protect.add(os.path.realpath(current))
        pruned = _prune(releases, p["keep"], protect)
    module.exit_json(**dict(result, changed=True, current=target, pruned=pruned))


if __name__ == "__main__":
    main()
