"""The qualification policy: a strict YAML file validated with pydantic.

Thresholds, windows, which checks are mandatory and the programme cohorts live here, not in
the engine. A bad file is refused at start with :class:`PolicyError` naming the file and the
field.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from api.readiness.versions import parse_version
from core.errors import ConfigurationError
from inventory.choices import LinkMedium, SiteKind

logger = logging.getLogger(__name__)

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yml")

Minutes = Annotated[float, Field(gt=0, le=7 * 24 * 60)]
Percent = Annotated[float, Field(ge=0, le=100)]


class PolicyError(ConfigurationError):
    """The policy file is missing, not YAML, or does not validate."""

    def __init__(self, message: str, *, path: Path, field: str | None = None) -> None:
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckRule(_Strict):
    """What every check has: whether it counts towards the verdict."""

    mandatory: bool = True


class UplinkRule(CheckRule):
    """The village office has an uplink."""


class UplinkUpRule(CheckRule):
    """The uplink is up now; older state is stale (unknown)."""

    max_age_minutes: Minutes = 15


class AvailabilityRule(CheckRule):
    """The uplink's availability over ``window_days`` is at least ``min_percent``."""

    window_days: int = Field(default=30, ge=1, le=366)
    min_percent: Percent = 99.0
    min_coverage_percent: Percent = 80


class KioskOnlineRule(CheckRule):
    """At least ``min_count`` kiosks are up now."""

    min_count: int = Field(default=1, ge=1, le=100)
    max_age_minutes: Minutes = 15


class KioskVersionRule(CheckRule):
    """Every kiosk seen reports at least ``min_version``."""

    min_version: str = "2.4.0"
    max_age_minutes: Minutes = 15

    @field_validator("min_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if parse_version(value) is None:
            raise ValueError(f"not a version number like 2.4.0: {value!r}")
        return value


class KioskSeenRule(CheckRule):
    """At least one kiosk answered within ``max_age_minutes``."""

    max_age_minutes: Minutes = 15


class AttestationRule(CheckRule):
    """An attested fact; older than ``max_age_days`` (or past its expiry) reads unknown."""

    max_age_days: int | None = Field(default=365, ge=1, le=3650)


class OperatorRule(AttestationRule):
    """At least ``min_count`` trained operators are attested."""

    min_count: int = Field(default=1, ge=1, le=100)


class IncidentRule(CheckRule):
    """No open incident of these severities on the site."""

    severities: list[str] = Field(default_factory=lambda: ["critical"], min_length=1)


class NetworkGroup(_Strict):
    """Checks of the network group."""

    uplink: UplinkRule = UplinkRule()
    uplink_up: UplinkUpRule = UplinkUpRule()
    availability: AvailabilityRule = AvailabilityRule()


class KioskGroup(_Strict):
    """Checks of the kiosk group."""

    online: KioskOnlineRule = KioskOnlineRule()
    app_version: KioskVersionRule = KioskVersionRule()
    seen: KioskSeenRule = KioskSeenRule()


class FacilitiesGroup(_Strict):
    """Checks of the facilities group."""

    reading_corner: AttestationRule = AttestationRule()
    waiting_room: AttestationRule = AttestationRule()
    lactation_room: AttestationRule = AttestationRule()


class HumanResourcesGroup(_Strict):
    """Checks of the human-resources group."""

    trained_operator: OperatorRule = OperatorRule()


class IncidentsGroup(_Strict):
    """Checks of the incidents group."""

    no_open_critical: IncidentRule = IncidentRule()


class CohortSelector(_Strict):
    """Which villages belong to a cohort (every given condition must hold)."""

    uplink_medium: LinkMedium | None = None
    districts: list[str] | None = None
    villages: list[str] | None = None
    site_kinds: list[SiteKind] | None = None


class Cohort(_Strict):
    """A programme cohort with a target: ``target_percent`` qualified by ``target_date``."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=160)
    description: str | None = None
    selector: CohortSelector = CohortSelector()
    target_percent: Percent
    target_date: date


class Policy(_Strict):
    """The whole qualification policy."""

    version: str = Field(min_length=1, max_length=64)
    village_site_kinds: list[SiteKind] = Field(
        default_factory=lambda: [SiteKind.VILLAGE_OFFICE, SiteKind.KELURAHAN_OFFICE],
        min_length=1,
    )
    network: NetworkGroup = NetworkGroup()
    kiosk: KioskGroup = KioskGroup()
    facilities: FacilitiesGroup = FacilitiesGroup()
    human_resources: HumanResourcesGroup = HumanResourcesGroup()
    incidents: IncidentsGroup = IncidentsGroup()
    cohorts: list[Cohort] = Field(default_factory=list)
    digest: str = Field(default="", exclude=True)

    @field_validator("cohorts")
    @classmethod
    def _unique_cohorts(cls, value: list[Cohort]) -> list[Cohort]:
        ids = [c.id for c in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"cohort ids must be unique; repeated: {', '.join(dupes)}")
        return value

    def rule(self, check_id: str) -> CheckRule:
        """The rule of a check id such as ``kiosk.online``."""
        group, name = check_id.split(".", 1)
        return getattr(getattr(self, group), name)  # type: ignore[no-any-return]


#: Every check id, in display order (group.name).
CHECK_IDS: tuple[str, ...] = (
    "network.uplink",
    "network.uplink_up",
    "network.availability",
    "kiosk.online",
    "kiosk.app_version",
    "kiosk.seen",
    "facilities.reading_corner",
    "facilities.waiting_room",
    "facilities.lactation_room",
    "human_resources.trained_operator",
    "incidents.no_open_critical",
)
GROUPS: tuple[str, ...] = ("network", "kiosk", "facilities", "human_resources", "incidents")


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_policy(text: str, *, path: Path) -> Policy:
    """Validate policy YAML ``text`` (read from ``path``, used in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        field = f"line {mark.line + 1}" if mark is not None else None
        raise PolicyError(f"not valid YAML: {exc}", path=path, field=field) from exc
    if not isinstance(data, dict):
        raise PolicyError("expected a mapping at the top level", path=path)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(first["loc"])
        others = len(exc.errors()) - 1
        more = f" (and {others} more problem(s))" if others else ""
        raise PolicyError(f"{first['msg']}{more}", path=path, field=field) from exc
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return policy.model_copy(update={"digest": digest})


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy at ``path`` (the shipped default when None)."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file: {exc.strerror or exc}", path=path) from exc
    policy = parse_policy(text, path=path)
    logger.info("readiness policy %s (version %s) from %s", policy.digest, policy.version, path)
    return policy


@lru_cache(maxsize=8)
def cached_policy(path: Path | None) -> Policy:
    """:func:`load_policy`, once per path per process."""
    return load_policy(path)
