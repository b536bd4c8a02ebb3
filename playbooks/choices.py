"""Named value sets of rollouts (the words the technicians say)."""

from __future__ import annotations

from enum import StrEnum


class RolloutStatus(StrEnum):
    """Where a rollout stands as a whole."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    HALTED = "halted"
    ABORTED = "aborted"
    FAILED = "failed"


RESUMABLE_STATUSES = frozenset({RolloutStatus.PENDING, RolloutStatus.PAUSED, RolloutStatus.RUNNING})
FINAL_STATUSES = frozenset(
    {RolloutStatus.COMPLETED, RolloutStatus.HALTED, RolloutStatus.ABORTED, RolloutStatus.FAILED}
)


class HostState(StrEnum):
    """Where one kiosk stands within a rollout."""

    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"


DONE_STATES = frozenset(
    {
        HostState.OK,
        HostState.CHANGED,
        HostState.FAILED,
        HostState.UNREACHABLE,
        HostState.ROLLED_BACK,
        HostState.SKIPPED,
    }
)
SUCCESS_STATES = frozenset({HostState.OK, HostState.CHANGED})
FAILURE_STATES = frozenset({HostState.FAILED, HostState.ROLLED_BACK})


class WaveMode(StrEnum):
    """How hosts are grouped into batches."""

    FLAT = "flat"
    TREE = "tree"
