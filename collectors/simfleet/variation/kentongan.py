"""snmpsim variation module of Kentongan's simulated fleet (loaded by snmpsim, not imported).

snmpsim executes this file with ``recordContext``/``moduleContext`` injected as globals and
calls ``variate(oid, tag, value, **context)`` for records tagged ``TAG:kentongan``. The record
value is ``kind=...,key=value,...``; everything is a pure function of wall-clock time, so
every responder process and every poll agree without shared state:

* ``kind=uptime,boot=EPOCH`` → TimeTicks since ``boot``.
* ``kind=counter,base=N,rate=BYTES_PER_S,bits=32|64`` → a growing counter that wraps.
* ``kind=flap,period=S,down=S,phase=S`` → ifOperStatus: 2 (down) for ``down`` seconds of every
  ``period``, else 1; ``period=0`` never flaps.
* ``kind=source,period=S,down=S,phase=S`` → upsOutputSource: 5 (battery) during the window,
  else 3 (normal).
* ``kind=charge`` / ``kind=minutes`` (same schedule keys) → UPS charge/minutes left, lower
  while on battery.

The file named by ``$KENTONGAN_SIMFLEET_STATE`` holds faults made on demand, one a line:

* ``DEVICE`` — the device is "down": every variated record raises snmpsim's
  ``NoDataNotification``, so the agent does not answer at all (a fibre cut, a dead agent);
* ``DEVICE#IFINDEX`` — that interface reports oper down (2) whatever its schedule;
* ``DEVICE@battery`` — that UPS runs on battery (source 5, charge and minutes low).

The file is re-read at most every 0.2 s.
"""

import os
import time

from snmpsim.error import NoDataNotification

_STATE = {"path": os.environ.get("KENTONGAN_SIMFLEET_STATE", ""), "checked": 0.0,
          "mtime": -1.0, "down": frozenset()}


def _down_devices():
    now = time.monotonic()
    if now - _STATE["checked"] < 0.2 or not _STATE["path"]:
        return _STATE["down"]
    _STATE["checked"] = now
    try:
        mtime = os.stat(_STATE["path"]).st_mtime
    except OSError:
        _STATE["down"] = frozenset()
        return _STATE["down"]
    if mtime != _STATE["mtime"]:
        _STATE["mtime"] = mtime
        with open(_STATE["path"]) as fh:
            _STATE["down"] = frozenset(line.strip() for line in fh if line.strip())
    return _STATE["down"]


def _window(settings, now):
    period = float(settings.get("period", 0))
    if period <= 0:
        return False
    return (now + float(settings.get("phase", 0))) % period < float(settings.get("down", 0))


def init(**context):
    """Nothing to set up: all state derives from the clock and the state file."""


def variate(oid, tag, value, **context):
    """Compute the record's value now (see the module docstring)."""
    if not context["nextFlag"] and not context["exactMatch"]:
        return context["origOid"], tag, context["errorStatus"]
    rc = globals()["recordContext"]
    settings = rc.get("settings")
    if settings is None:
        settings = rc["settings"] = dict(p.split("=", 1) for p in value.split(",") if p)
        path = str(context.get("dataFile", ""))
        rc["device"] = os.path.splitext(os.path.basename(path))[0]
    if rc["device"] in _down_devices():
        raise NoDataNotification()
    now = time.time()
    kind = settings.get("kind")
    if kind == "uptime":
        return oid, tag, int((now - float(settings["boot"])) * 100) % (1 << 32)
    if kind == "counter":
        bits = int(settings.get("bits", 64))
        v = int(settings.get("base", 0)) + int(float(settings.get("rate", 0)) * now)
        return oid, tag, v % (1 << bits)
    faults = _down_devices()
    if kind == "flap":
        forced = f"{rc['device']}#{settings.get('if', '')}" in faults
        return oid, tag, 2 if forced or _window(settings, now) else 1
    battery = f"{rc['device']}@battery" in faults
    if kind == "source":
        return oid, tag, 5 if battery or _window(settings, now) else 3
    if kind == "charge":
        return oid, tag, 63 if battery or _window(settings, now) else 100
    if kind == "minutes":
        return oid, tag, 24 if battery or _window(settings, now) else 95
    return oid, tag, int(settings.get("value", 0))


def shutdown(**context):
    """Nothing to release."""
