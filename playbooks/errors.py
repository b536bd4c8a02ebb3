"""Errors of the rollout package."""

from __future__ import annotations

from core.errors import KentonganError


class RolloutError(KentonganError):
    """A rollout cannot start or continue; carries the host and task when they are known."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        task: str | None = None,
        rollout_id: int | None = None,
    ) -> None:
        where = " ".join(
            part
            for part in (
                f"rollout {rollout_id}:" if rollout_id is not None else "",
                f"{host}:" if host else "",
                f"[{task}]" if task else "",
            )
            if part
        )
        super().__init__(f"{where} {message}" if where else message)
        self.message = message
        self.host = host
        self.task = task
        self.rollout_id = rollout_id


class ReleaseError(RolloutError, ValueError):
    """The release to roll out is missing, unreadable, or its checksum does not match."""


class TargetError(RolloutError, ValueError):
    """The target set is empty or a host's inventory data is unsafe to hand to Ansible."""
