"""The one typed wrapper of ours around ``ansible_runner.run``.

Everything in Kentongan that runs a playbook goes through :func:`run_playbook`: it
prepares a private data directory, points Ansible at ``playbooks/ansible.cfg``, streams
every event to a callback, and returns a small :class:`PlaybookResult`.

Inputs are data, never templates. Ansible templates every string it is given, and a
template (``{{ lookup('pipe', …) }}``) runs commands on the controller. So every string of
the inventory and of the extra variables is handed over marked *unsafe* (ansible-core's
``{"__ansible_unsafe": "…"}`` JSON form, which its JSON inventory and ``-e`` loaders turn
into untrusted strings): Ansible passes it on literally. The only variables Ansible may
template are the administrator's site variables file (``KENTONGAN_PLAYBOOK_VARS_FILE``),
passed as ``-e @FILE``.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

logger = logging.getLogger(__name__)

PLAYBOOK_DIR = Path(__file__).resolve().parent
ANSIBLE_CFG = PLAYBOOK_DIR / "ansible.cfg"

UNSAFE_KEY = "__ansible_unsafe"
_TEMPLATE_MARKS = ("{{", "{%", "{#")

AnsibleEvent = Mapping[str, Any]
EventHandler = Callable[[AnsibleEvent], None]


@dataclass(frozen=True, slots=True)
class PlaybookResult:
    """What a playbook run ended with: runner status, exit code and per-host stats."""

    status: str
    rc: int
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    canceled: bool = False

    def hosts_in(self, key: str) -> set[str]:
        """Hosts with a non-zero count under ``key`` (``ok``, ``changed``, ``failures``,
        ``dark`` for unreachable, ``skipped``, ``rescued``)."""
        return {host for host, count in self.stats.get(key, {}).items() if count}


class UnsafeKeyError(ValueError):
    """A mapping key that Ansible could template (keys cannot be marked unsafe)."""


def unsafe(value: Any, *, where: str = "value") -> Any:
    """``value`` with every string marked unsafe for Ansible, recursively.

    Strings become ``{"__ansible_unsafe": s}``; numbers, booleans and None stay as they
    are; lists and mappings are walked; an already-marked string is kept. Mapping keys
    cannot carry the mark, so a key containing ``{{``, ``{%`` or ``{#`` raises
    :class:`UnsafeKeyError` naming ``where``.
    """
    if isinstance(value, str):
        return {UNSAFE_KEY: value}
    if isinstance(value, Mapping):
        if set(value) == {UNSAFE_KEY} and isinstance(value[UNSAFE_KEY], str):
            return {UNSAFE_KEY: value[UNSAFE_KEY]}
        marked: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if any(mark in name for mark in _TEMPLATE_MARKS):
                raise UnsafeKeyError(f"{where}: the key {name!r} looks like an Ansible template")
            marked[name] = unsafe(item, where=f"{where}.{name}")
        return marked
    if isinstance(value, list | tuple | set | frozenset):
        return [unsafe(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if value is None or isinstance(value, bool | int | float):
        return value
    return {UNSAFE_KEY: str(value)}


def unsafe_inventory(inventory: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML-plugin form of ``inventory`` (see :func:`yaml_inventory`) with every host
    and group variable marked unsafe; host and group names are checked, not marked."""
    form = yaml_inventory(inventory)

    def walk(group: Mapping[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "hosts" in group:
            hosts = group["hosts"] or {}
            for host in hosts:
                if any(mark in str(host) for mark in _TEMPLATE_MARKS):
                    raise UnsafeKeyError(f"{path}: host name {host!r} looks like a template")
            out["hosts"] = {
                str(h): unsafe(v or {}, where=f"host {h}") for h, v in hosts.items()
            }
        if "vars" in group:
            out["vars"] = unsafe(group["vars"] or {}, where=f"{path} vars")
        if "children" in group:
            out["children"] = {
                str(name): walk(child or {}, str(name))
                for name, child in (group["children"] or {}).items()
            }
        return out

    return {name: walk(body or {}, str(name)) for name, body in form.items()}


def playbook_path(name: str) -> Path:
    """The absolute path of one of our playbooks (``kiosk-update.yml`` …)."""
    path = PLAYBOOK_DIR / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def yaml_inventory(inventory: Mapping[str, Any]) -> dict[str, Any]:
    """Ansible's YAML-plugin inventory form of ``inventory``.

    Accepts that form unchanged, or the script form (groups with host lists plus
    ``_meta.hostvars``, as ``inventory.export.ansible_inventory`` writes it).
    """
    if "_meta" not in inventory:
        return dict(inventory)
    hostvars: Mapping[str, Mapping[str, Any]] = inventory["_meta"].get("hostvars", {})
    children: dict[str, Any] = {}
    for group, body in inventory.items():
        if group in ("_meta", "all") or not isinstance(body, Mapping):
            continue
        hosts = body.get("hosts", [])
        children[group] = {"hosts": {h: dict(hostvars.get(h, {})) for h in hosts}}
        if body.get("vars"):
            children[group]["vars"] = dict(body["vars"])
    grouped = {h for body in children.values() for h in body["hosts"]}
    loose = {h: dict(v) for h, v in hostvars.items() if h not in grouped}
    top: dict[str, Any] = {"children": children}
    if loose:
        top["hosts"] = loose
    return {"all": top}


def run_playbook(
    playbook: str | Path,
    inventory: Mapping[str, Any],
    *,
    extravars: Mapping[str, Any] | None = None,
    site_vars_file: Path | None = None,
    limit: Sequence[str] | None = None,
    forks: int = 20,
    event_handler: EventHandler | None = None,
    cancel: Callable[[], bool] | None = None,
    envvars: Mapping[str, str] | None = None,
    private_data_dir: Path | None = None,
    timeout: int | None = None,
    verbosity: int = 0,
) -> PlaybookResult:
    """Run ``playbook`` against ``inventory`` (Ansible JSON inventory) and wait for it.

    Args:
        playbook: a name under ``playbooks/`` or an absolute path.
        inventory: the JSON inventory (``_meta.hostvars`` included); passed as data.
        extravars: ``-e`` variables; passed as data (marked unsafe).
        site_vars_file: the administrator's variables file, the one source Ansible may
            template (``-e @FILE``, before ``extravars``, which override it).
        limit: only these hosts.
        forks: parallel hosts.
        event_handler: called with every Ansible event as it arrives.
        cancel: polled by ansible-runner; returning True stops the run.
        envvars: extra environment of the ansible-playbook process.
        private_data_dir: where ansible-runner keeps its files (a temporary one if None).
        timeout: seconds after which the run is cancelled.
        verbosity: Ansible ``-v`` count.
    """
    path = Path(playbook)
    if not path.is_absolute():
        path = playbook_path(str(playbook))
    bindir = str(Path(sys.executable).parent)
    env = {
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_FORCE_COLOR": "0",
        # ansible-runner turns host-key checking off unless told otherwise; keep it on.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", os.defpath)]),
    }
    env.update(envvars or {})

    def _handler(event: dict[str, Any]) -> bool:
        if event_handler is not None:
            try:
                event_handler(event)
            except Exception:  # a failing recorder must not leave Ansible half-run
                logger.exception("event handler failed on %s", event.get("event"))
        return event.get("event") == "playbook_on_stats"

    def _cancel() -> bool:
        return bool(cancel()) if cancel is not None else False

    with tempfile.TemporaryDirectory(prefix="kentongan-runner-") as tmp:
        pdd = private_data_dir or Path(tmp)
        kwargs: dict[str, Any] = {
            "private_data_dir": str(pdd),
            "project_dir": str(path.parent),
            "playbook": str(path),
            "inventory": unsafe_inventory(inventory),
            "extravars": unsafe(dict(extravars or {}), where="extra variables"),
            "forks": forks,
            "envvars": env,
            "event_handler": _handler,
            "cancel_callback": _cancel,
            "quiet": True,
            "suppress_env_files": True,
            "settings": {"suppress_output_file": True, "suppress_ansible_output": True},
            "verbosity": verbosity or None,
        }
        if site_vars_file is not None:
            kwargs["cmdline"] = shlex.join(["-e", f"@{Path(site_vars_file).resolve()}"])
        if limit:
            kwargs["limit"] = ",".join(limit)
        if timeout:
            kwargs["timeout"] = timeout
        logger.debug("running %s on %d host(s)", path.name, len(limit or ()) or -1)
        runner = ansible_runner.run(**kwargs)
        stats = runner.stats or {}
        return PlaybookResult(
            status=str(runner.status),
            rc=int(runner.rc if runner.rc is not None else -1),
            stats={k: dict(v) for k, v in stats.items() if isinstance(v, dict)},
            canceled=runner.status == "canceled",
        )
