"""District configuration, category mapping and closed grading periods.  Each write is one
transaction; invalid input raises before anything is written."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from sqlalchemy.engine import Engine
from sqlmodel import col, delete, select

from passback.domain.codes import OTUS_TYPES, DeletionPolicy
from passback.naming import district_id_problem
from passback.oneroster.client import MAX_POOL
from passback.store.db import session
from passback.store.models import CategoryMapping, ClosedGradingPeriod, District, utcnow
from passback.store.secrets import encrypt_secret
from passback.store.urls import url_problem


class UnknownDistrict(LookupError):
    def __str__(self) -> str:
        return str(self.args[0])


class DistrictExists(ValueError):
    pass


def _tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Chicago)") from None
    return value


class DistrictSpec(BaseModel):
    id: str
    name: str = Field(min_length=1)
    allow_http: bool = False  # plain http to a host that is not loopback (declared before the URLs it governs)
    base_url: str
    token_url: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    timezone: str = "America/Chicago"
    effective_date: dt.date
    enabled: bool = True
    concurrency: int = 4
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    grace_hours: float = Field(default=0.0, ge=0)
    deletion_policy: DeletionPolicy = DeletionPolicy.keep
    verify_tls: bool = True
    batch_size: int = Field(default=500, ge=1, le=10_000)
    max_writes_per_run: int | None = Field(default=None, ge=1)
    request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # guards (passback.guards.limits): None = the documented default
    guards_enabled: bool = True
    guard_new_zeros: int | None = Field(default=None, ge=0)
    guard_changed_scores: int | None = Field(default=None, ge=0)
    guard_lowered_scores: int | None = Field(default=None, ge=0)
    guard_changed_line_items: int | None = Field(default=None, ge=0)
    guard_writes: int | None = Field(default=None, ge=0)
    guard_zero_share: float | None = Field(default=None, gt=0, le=1)
    guard_factor: float | None = Field(default=None, ge=1)
    guard_timeout_h: float = Field(default=12.0, gt=0, le=168)
    audit_retention_days: int = Field(default=400, ge=1, le=36_500)
    refusal_retry_max_days: int = Field(default=7, ge=0, le=365)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        problem = district_id_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("base_url", "token_url")
    @classmethod
    def _url(cls, v: str, info: ValidationInfo) -> str:
        problem = url_problem(v, allow_http=bool(info.data.get("allow_http")))
        if problem:
            raise ValueError(problem)
        return v.rstrip("/")

    @field_validator("concurrency")
    @classmethod
    def _concurrency(cls, v: int) -> int:
        if not 1 <= v <= MAX_POOL:
            raise ValueError(
                f"{v} requests in flight: give 1 to {MAX_POOL} (the client keeps at most {MAX_POOL} "
                "connections per district; more would be capped silently)"
            )
        return v

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _tz(v)))


def add_district(engine: Engine, spec: DistrictSpec) -> District:
    data = spec.model_dump(exclude={"client_secret"})
    data["deletion_policy"] = spec.deletion_policy.value
    district = District(**data, secret_ciphertext=encrypt_secret(spec.client_secret))
    with session(engine) as s:
        if s.get(District, spec.id) is not None:
            raise DistrictExists(
                f"district {spec.id!r} exists already; change it with `passback district set {spec.id} ...`"
            )
        s.add(district)
    return district


def get_district(engine: Engine, district_id: str) -> District:
    with session(engine) as s:
        district = s.get(District, district_id)
        if district is None:
            known = ", ".join(d for d in s.exec(select(District.id)).all()) or "none yet"
            raise UnknownDistrict(
                f"unknown district {district_id!r} (known: {known}); add it with `passback district add`"
            )
        return district


def list_districts(engine: Engine) -> list[District]:
    with session(engine) as s:
        return list(s.exec(select(District).order_by(District.id)).all())


def update_district(engine: Engine, district_id: str, **changes: Any) -> District:
    current = get_district(engine, district_id)
    merged = current.model_dump() | {k: v for k, v in changes.items() if k != "client_secret"}
    merged["client_secret"] = changes.get("client_secret", "unchanged")
    spec = DistrictSpec(**merged)  # validates the whole result before writing
    with session(engine) as s:
        district = s.get(District, district_id)
        assert district is not None
        for key, value in spec.model_dump(exclude={"client_secret", "id"}).items():
            setattr(district, key, value.value if isinstance(value, DeletionPolicy) else value)
        if "client_secret" in changes:
            district.secret_ciphertext = encrypt_secret(spec.client_secret)
        district.updated_at = utcnow()
        s.add(district)
    return get_district(engine, district_id)


def set_mapping(engine: Engine, district_id: str, mapping: dict[str, str]) -> None:
    unknown = [t for t in mapping if t not in OTUS_TYPES]
    if unknown:
        raise ValueError(
            f"unknown Otus type(s) {', '.join(map(repr, unknown))}; the 12 types are: {', '.join(OTUS_TYPES)}"
        )
    get_district(engine, district_id)
    with session(engine) as s:
        for otus_type, category in mapping.items():
            row = s.get(CategoryMapping, (district_id, otus_type))
            if row is None:
                s.add(CategoryMapping(district_id=district_id, otus_type=otus_type, category_sourced_id=category))
            else:
                row.category_sourced_id = category
                s.add(row)


def get_mapping(engine: Engine, district_id: str) -> dict[str, str]:
    with session(engine) as s:
        rows = s.exec(select(CategoryMapping).where(CategoryMapping.district_id == district_id)).all()
        return {r.otus_type: r.category_sourced_id for r in rows}


def closed_periods(engine: Engine, district_id: str) -> set[str]:
    with session(engine) as s:
        rows = s.exec(
            select(ClosedGradingPeriod.grading_period_id).where(ClosedGradingPeriod.district_id == district_id)
        )
        return set(rows.all())


def mark_period_closed(
    engine: Engine, district_id: str, grading_period_id: str, source: str, message: str | None = None
) -> None:
    with session(engine) as s:
        if s.get(ClosedGradingPeriod, (district_id, grading_period_id)) is None:
            s.add(
                ClosedGradingPeriod(
                    district_id=district_id,
                    grading_period_id=grading_period_id,
                    source=source,
                    message=(message or "")[:1000],
                )
            )


def set_closed_periods_config(engine: Engine, district_id: str, period_ids: list[str]) -> None:
    """Replace the grading periods closed by configuration (those learned from the SIS stay)."""
    get_district(engine, district_id)
    with session(engine) as s:
        s.exec(
            delete(ClosedGradingPeriod).where(
                col(ClosedGradingPeriod.district_id) == district_id, col(ClosedGradingPeriod.source) == "config"
            )
        )
        for gp in period_ids:
            if s.get(ClosedGradingPeriod, (district_id, gp)) is None:
                s.add(ClosedGradingPeriod(district_id=district_id, grading_period_id=gp, source="config"))
