"""The root of Kentongan's exception tree.

Each package defines its own leaves (``InventoryError``, ``CollectorError``,
``RolloutError``…) carrying the context a user needs: the file, line and field,
or the device and the reason.
"""

from __future__ import annotations


class KentonganError(Exception):
    """Base class of every error Kentongan raises on purpose."""


class ConfigurationError(KentonganError, ValueError):
    """A setting, policy or configuration file is invalid."""
