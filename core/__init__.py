"""Kentongan's ground floor: what every package shares.

Settings types (``core.settings``), the root of the error tree (``core.errors``) and time
helpers (``core.timeutil``). It imports no other Kentongan package; every package may import it.
"""
