"""The inventory's tables (SQLModel). Only ``backends.inventory`` imports this module.

Every table later issues fill is declared here from the start so that relations are right:
updates per machine, groups, deployments (with their targets and stages), plans, runs with
per-machine results, and the audit trail. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Bump with a step in migrations.py whenever a table or column changes.
SCHEMA_VERSION = 8
UPDATE_COUNTS_INDEX = "ix_machine_update_machine_id_classification"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no zone support) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the inventory; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


def _parent(table: str, nullable: bool = False, index: bool = True) -> Any:
    """A foreign key that goes with its parent row (ON DELETE CASCADE)."""
    return Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(f"{table}.id", ondelete="CASCADE"),
            nullable=nullable,
            index=index,
        ),
    )


def _json() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SchemaInfo(SQLModel, table=True):
    __tablename__ = "schema_info"
    id: int = Field(default=1, primary_key=True)
    version: int


class MachineRow(SQLModel, table=True):
    __tablename__ = "machine"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=255)
    address: str = Field(max_length=255)
    port: int
    transport: str = Field(max_length=16)  # ssh | winrm | local
    os_family: str = Field(max_length=16)  # linux | windows
    distro: str | None = Field(default=None, max_length=64)
    version: str | None = Field(default=None, max_length=64)
    user: str | None = None
    identity_file: str | None = None
    owner: str | None = None
    role: str | None = None
    environment: str | None = None
    criticality: str = Field(default="medium", max_length=16)
    last_scan_at: datetime | None = _when(index=True)
    last_scan_outcome: str | None = Field(default=None, max_length=16)  # ok | failed
    last_scan_error: str | None = None
    reboot_pending: bool | None = None
    reachable: bool | None = None
    # A digest of the updates last recorded (schema 2): an unchanged re-scan rewrites nothing.
    updates_digest: str | None = Field(default=None, max_length=64)
    # WinRM connection options (schema 3); NULL means the default (ntlm, http, certificates
    # checked, the system's CA store).
    winrm_auth: str | None = Field(default=None, max_length=16)  # ntlm|kerberos|credssp|basic
    winrm_https: bool | None = None
    winrm_verify_cert: bool | None = None
    winrm_ca_file: str | None = None
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class TagRow(SQLModel, table=True):
    """One key=value tag of a machine; a key may hold several values (``group=a``, ``group=b``)."""

    __tablename__ = "machine_tag"
    __table_args__ = (
        UniqueConstraint("machine_id", "key", "value"),
        Index("ix_machine_tag_key_value", "key", "value"),
    )
    id: int | None = Field(default=None, primary_key=True)
    machine_id: int = _parent("machine")
    key: str = Field(max_length=128)
    value: str


class UpdateRow(SQLModel, table=True):
    """One update missing on one machine, as its last scan found it."""

    __tablename__ = "machine_update"
    __table_args__ = (
        UniqueConstraint("machine_id", "platform_id"),
        # schema 5: the machines view counts each machine's updates by classification from
        # this index alone, without reading the rows
        Index(UPDATE_COUNTS_INDEX, "machine_id", "classification"),
    )
    id: int | None = Field(default=None, primary_key=True)
    machine_id: int = _parent("machine")
    platform_id: str  # package (apt/dnf), patch or package (zypper), UpdateID (Windows)
    name: str  # package, patch or KB
    installed_version: str | None = None
    available_version: str | None = None
    classification: str = Field(max_length=32, index=True)
    severity: str | None = Field(default=None, max_length=32)
    advisories: list[str] = _json()
    source: str | None = None
    reboot_likely: bool = False
    found_at: datetime | None = _when()


class GroupRow(SQLModel, table=True):
    __tablename__ = "computer_group"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=255)
    kind: str = Field(max_length=16)  # static | dynamic
    query: str | None = None  # dynamic groups
    scan_every_seconds: int | None = None
    last_scheduled_scan_at: datetime | None = _when()
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class GroupMemberRow(SQLModel, table=True):
    """A static group's named machines."""

    __tablename__ = "computer_group_member"
    __table_args__ = (UniqueConstraint("group_id", "machine_id"),)
    id: int | None = Field(default=None, primary_key=True)
    group_id: int = _parent("computer_group")
    machine_id: int = _parent("machine")


class DeploymentRow(SQLModel, table=True):
    __tablename__ = "deployment"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=255)
    classifications: list[str] = _json()
    include: list[str] = _json()
    exclude: list[str] = _json()
    reboot: str = Field(default="if-required", max_length=16)
    window_minutes: int = 120
    concurrency: int = 10
    max_failures: str = Field(default="0", max_length=16)  # N or P%
    gate: str = Field(default="auto", max_length=16)  # auto | manual
    pre_command: str | None = None
    post_command: str | None = None
    schedule_at: datetime | None = _when()
    schedule_rrule: str | None = None
    schedule_offset_seconds: int = 0
    schedule_tz: str | None = None
    notify: str | None = None
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class DeploymentTargetRow(SQLModel, table=True):
    """A group or a machine that a deployment targets, in stage order (stage 0 first)."""

    __tablename__ = "deployment_target"
    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = _parent("deployment")
    stage: int = 0
    group_id: int | None = _parent("computer_group", nullable=True)
    machine_id: int | None = _parent("machine", nullable=True)


class PlanRow(SQLModel, table=True):
    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = _parent("deployment")
    created_at: datetime | None = _when()
    created_by: str | None = None


class PlanMachineRow(SQLModel, table=True):
    """One machine's part in a plan (schema 4): its stage, whether a reboot is expected, why it
    could not be planned (unreachable, scan or pre-flight failed), the updates the filters left
    out and why, and the pre-flight checks. Its updates are ``plan_item`` rows."""

    __tablename__ = "plan_machine"
    __table_args__ = (UniqueConstraint("plan_id", "machine_id"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = _parent("plan")
    machine_id: int = _parent("machine")
    stage: int = 0
    reboot_expected: bool = False
    error: str | None = None
    error_kind: str | None = Field(default=None, max_length=32)
    excluded: list[dict[str, str]] = _json()  # {"id", "name", "reason"}
    checks: list[dict[str, Any]] = _json()  # {"check", "ok" (true|false|null), "detail"}
    notes: list[str] = _json()


class PlanItemRow(SQLModel, table=True):
    """One update pinned for one machine in a plan: the platform id and the exact version
    (``version``) a run installs, the version it replaces (``installed_version``, schema 4),
    and whether it is likely to need a reboot (``reboot_expected``)."""

    __tablename__ = "plan_item"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = _parent("plan")
    machine_id: int = _parent("machine")
    stage: int = 0
    platform_id: str | None = None
    name: str | None = None
    version: str | None = None
    installed_version: str | None = None
    classification: str | None = Field(default=None, max_length=32)
    reboot_expected: bool = False


class RunRow(SQLModel, table=True):
    """One execution of a deployment's plan. ``owner_id`` (``host:pid:random``) and
    ``heartbeat_at`` say which runner process owns it and that it is alive; ``seq`` grows with
    every change to the run or one of its machines (schema 6), so a follower reads only what
    changed. ``options`` holds the deployment's options as the run started (schema 6)."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int | None = _parent("deployment", nullable=True)
    plan_id: int | None = _parent("plan", nullable=True)
    state: str = Field(default="pending", max_length=32, index=True)
    started_by: str | None = None
    started_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    window_end: datetime | None = _when()
    stage: int = 0
    gate_waiting: bool = False
    owner_id: str | None = None
    heartbeat_at: datetime | None = _when()
    cancel_requested: str | None = None  # None | soft | now
    scheduled_for: datetime | None = _when()
    # schema 6
    window_minutes: int = 120
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    seq: int = 0
    log_path: str | None = None


class RunMachineRow(SQLModel, table=True):
    """One machine's part in a run: its state, counts, timings, error and output tail. Schema 6
    adds the error's kind, notes (drift from the plan, …), which updates were installed and
    which failed, how many output lines were ever appended, and the run's ``seq`` at its last
    change."""

    __tablename__ = "run_machine"
    __table_args__ = (UniqueConstraint("run_id", "machine_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = _parent("run")
    machine_id: int = _parent("machine")
    stage: int = 0
    state: str = Field(default="pending", max_length=32, index=True)
    installed: int = 0
    failed: int = 0
    reboot: str | None = Field(default=None, max_length=16)  # performed | not-needed | pending
    error: str | None = None
    started_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    percent: int = 0
    current_item: str | None = None
    output_tail: str | None = None
    # schema 6
    error_kind: str | None = Field(default=None, max_length=32)
    notes: list[str] = _json()
    installed_items: list[str] = _json()
    failed_items: list[dict[str, str]] = _json()  # {"id", "reason"}
    output_count: int = 0
    seq: int = 0


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _when(nullable=False, index=True)
    user: str = Field(max_length=255)
    action: str = Field(max_length=64)
    machines: list[str] = _json()
    detail: str = ""


class ScheduleClaimRow(SQLModel, table=True):
    """One occurrence of a deployment's schedule, claimed by the ``run-due`` that saw it first
    (schema 8): the unique pair (deployment, occurrence) is what lets only one process start
    it. ``state``: starting | started | missed | not-started (``detail`` says why)."""

    __tablename__ = "schedule_claim"
    __table_args__ = (UniqueConstraint("deployment_id", "occurrence_at"),)
    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = _parent("deployment")
    occurrence_at: datetime | None = _when(nullable=False)
    state: str = Field(max_length=16)
    claimed_at: datetime | None = _when(nullable=False)
    claimed_by: str = Field(max_length=255)
    run_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("run.id", ondelete="SET NULL"), nullable=True),
    )
    detail: str = ""
