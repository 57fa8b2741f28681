"""Telemetry schema v1 as pydantic models: the machine-readable form of docs/telemetry.md.

The hot path builds plain dicts (building a model costs ~13 us and importing pydantic ~130 ms,
both too much for a per-command CLI); these models validate those dicts in tests, in
``cmdscope ledger verify`` and wherever outside input claims to be a record. Field aliases are
the OTel attribute keys, so a ledger line validates as is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
Outcome = Literal["success", "failure", "timeout", "interrupted", "error", "denied"]
Severity = Literal["critical", "high", "medium", "low"]
Kind = Literal[
    "command", "denial", "function", "packet", "gate", "commit", "pipeline", "heartbeat", "audit",
    "integration_error", "cleanup",
]
HexTrace = Field(pattern=r"^[0-9a-f]{32}$")
HexSpan = Field(pattern=r"^[0-9a-f]{16}$")


class Envelope(BaseModel):
    """Keys without a dot: identity and timing of a record."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: Literal[1] = Field(alias="schema")
    record_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    kind: Kind
    time: str
    start_ns: int = Field(ge=0)
    end_ns: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    trace_id: str = HexTrace
    span_id: str = HexSpan
    parent_span_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    name: str


class CommandRecord(Envelope):
    """A command that ran (or a function recorded as a command, or a denied command)."""

    kind: Literal["command", "function", "denial"]
    executable: str = Field(alias="process.executable.name")
    command_line: str = Field(alias="process.command_line")
    exit_code: int | None = Field(default=None, alias="process.exit.code")
    pid: int | None = Field(default=None, alias="process.pid")
    working_directory: str | None = Field(default=None, alias="process.working_directory")
    error_type: str | None = Field(default=None, alias="error.type")
    branch: str | None = Field(default=None, alias="vcs.ref.head.name")
    revision: str | None = Field(default=None, alias="vcs.ref.head.revision")
    session: str | None = Field(default=None, alias="session.id")
    tool_call_id: str | None = Field(default=None, alias="gen_ai.tool.call.id")
    actor: str = Field(alias="cmdscope.actor")
    worktree: str | None = Field(default=None, alias="cmdscope.worktree")
    packet: str | None = Field(default=None, alias="cmdscope.packet")
    phase: str | None = Field(default=None, alias="cmdscope.phase")
    outcome: Outcome = Field(alias="cmdscope.outcome")
    command_hash: str = Field(alias="cmdscope.command.hash", pattern=r"^[0-9a-f]{16}$")
    signal: int | None = Field(default=None, alias="cmdscope.signal")
    retry_count: int = Field(default=0, ge=0, alias="cmdscope.retry.count")
    retry_of: str | None = Field(default=None, alias="cmdscope.retry_of")
    error_pattern: str | None = Field(default=None, alias="cmdscope.error.pattern")
    error_excerpt: str | None = Field(default=None, alias="cmdscope.error.excerpt")
    exit_code_known: bool | None = Field(default=None, alias="cmdscope.exit_code.known")
    policy_rule: str | None = Field(default=None, alias="cmdscope.policy.rule")
    policy_source: str | None = Field(default=None, alias="cmdscope.policy.source")
    policy_ignored: str | None = Field(default=None, alias="cmdscope.policy.ignored")
    guard_errors: list[str] | None = Field(default=None, alias="cmdscope.guard.errors")
    policy_action: Literal["allow", "warn", "deny"] | None = Field(default=None, alias="cmdscope.policy.action")
    policy_mode: Literal["observe", "warn", "enforce"] | None = Field(default=None, alias="cmdscope.policy.mode")
    danger_rules: list[str] | None = Field(default=None, alias="cmdscope.danger.rule")
    danger_severity: Severity | None = Field(default=None, alias="cmdscope.danger.severity")
    danger_categories: list[str] | None = Field(default=None, alias="cmdscope.danger.category")
    registry_version: str | None = Field(default=None, alias="cmdscope.registry.version")
    registry_digest: str | None = Field(default=None, alias="cmdscope.registry.digest")
    registry_team_version: str | None = Field(default=None, alias="cmdscope.registry.team_version")
    taxonomy_version: str | None = Field(default=None, alias="cmdscope.taxonomy.version")
    stderr_truncated: bool | None = Field(default=None, alias="cmdscope.stderr.truncated")
    host: str | None = Field(default=None, alias="host.name")

    @model_validator(mode="after")
    def _denial_names_its_rule(self) -> "CommandRecord":
        if self.kind == "denial" and (not self.policy_rule or self.outcome != "denied"):
            raise ValueError("a denial record needs cmdscope.policy.rule and outcome 'denied'")
        if self.outcome != "success" and self.kind != "function" and not self.error_type:
            raise ValueError("a record whose outcome is not success needs error.type")
        return self


class _SdlcRecord(Envelope):
    """Context shared by the SDLC records (docs/sdlc.md)."""

    actor: str = Field(alias="cmdscope.actor")
    outcome: Literal["success", "failure"] = Field(alias="cmdscope.outcome")
    packet: str | None = Field(default=None, alias="cmdscope.packet")
    worktree: str | None = Field(default=None, alias="cmdscope.worktree")
    error_type: str | None = Field(default=None, alias="error.type")

    @model_validator(mode="after")
    def _failure_has_error_type(self) -> "_SdlcRecord":
        if self.outcome != "success" and not self.error_type:
            raise ValueError("a record whose outcome is not success needs error.type")
        return self


class PacketRecord(_SdlcRecord):
    kind: Literal["packet"]
    packet: str = Field(alias="cmdscope.packet")
    title: str | None = Field(default=None, alias="cmdscope.packet.title")
    status: Literal["completed", "failed", "abandoned"] = Field(alias="cmdscope.packet.status")
    commands: int = Field(ge=0, alias="cmdscope.packet.commands")
    failures: int = Field(ge=0, alias="cmdscope.packet.failures")
    failure_density: float = Field(ge=0, le=1, alias="cmdscope.packet.failure_density")
    gates: int = Field(ge=0, alias="cmdscope.packet.gates")
    gates_passed: int = Field(ge=0, alias="cmdscope.packet.gates_passed")
    gate_pass_rate: float | None = Field(default=None, ge=0, le=1, alias="cmdscope.packet.gate_pass_rate")
    denials: int = Field(ge=0, alias="cmdscope.packet.denials")
    danger_hits: int = Field(ge=0, alias="cmdscope.packet.danger_hits")
    danger_critical: int = Field(ge=0, alias="cmdscope.packet.danger_critical")
    retries: int = Field(ge=0, alias="cmdscope.packet.retries")
    commits: int = Field(ge=0, alias="cmdscope.packet.commits")


class GateRecord(_SdlcRecord):
    kind: Literal["gate"]
    gate: str = Field(min_length=1, alias="cmdscope.gate.name")
    result: Literal["pass", "fail"] = Field(alias="cmdscope.gate.result")
    required: bool = Field(alias="cmdscope.gate.required")
    dirty: bool = Field(alias="cmdscope.gate.dirty")
    worktree_state: str | None = Field(default=None, alias="cmdscope.gate.worktree_state")
    reason: str | None = Field(default=None, alias="cmdscope.gate.reason")
    command: str | None = Field(default=None, alias="cmdscope.gate.command")
    exit_code: int | None = Field(default=None, alias="process.exit.code")


class CommitRecord(_SdlcRecord):
    kind: Literal["commit"]
    revision: str = Field(pattern=r"^[0-9a-f]{40,64}$", alias="vcs.ref.head.revision")
    parent: str = Field(alias="cmdscope.commit.parent")
    message: str = Field(alias="cmdscope.commit.message")
    files: int = Field(ge=0, alias="cmdscope.commit.files")
    paths: list[str] = Field(alias="cmdscope.commit.paths")
    insertions: int = Field(ge=0, alias="cmdscope.commit.insertions")
    deletions: int = Field(ge=0, alias="cmdscope.commit.deletions")
    changed_lines: int = Field(ge=0, alias="cmdscope.commit.changed_lines")
    slices: int = Field(ge=0, alias="cmdscope.commit.slices")
    atomic: bool = Field(alias="cmdscope.commit.atomic")
    since_gate_s: float | None = Field(default=None, ge=0, alias="cmdscope.commit.since_gate_s")


CicdResult = Literal["success", "failure", "error", "timeout", "cancellation", "skip"]


class PipelineRecord(_SdlcRecord):
    kind: Literal["pipeline"]
    pipeline: str = Field(alias="cicd.pipeline.name")
    run_id: str = Field(alias="cicd.pipeline.run.id")
    result: CicdResult | None = Field(default=None, alias="cicd.pipeline.result")
    task: str | None = Field(default=None, alias="cicd.pipeline.task.name")
    task_result: CicdResult | None = Field(default=None, alias="cicd.pipeline.task.run.result")
    task_type: Literal["build", "test", "deploy"] | None = Field(default=None, alias="cicd.pipeline.task.type")
    merge_result: Literal["auto", "human_review"] | None = Field(default=None, alias="cmdscope.merge.result")
    merge_reasons: list[str] | None = Field(default=None, alias="cmdscope.merge.reasons")

    @model_validator(mode="after")
    def _run_or_task(self) -> "PipelineRecord":
        if self.task is None and (self.result is None or self.merge_result is None):
            raise ValueError("a pipeline run record needs cicd.pipeline.result and cmdscope.merge.result")
        if self.task is not None and self.task_result is None:
            raise ValueError("a pipeline task record needs cicd.pipeline.task.run.result")
        return self


class HeartbeatRecord(_SdlcRecord):
    kind: Literal["heartbeat", "audit"]
    heartbeat: str = Field(min_length=1, alias="cmdscope.heartbeat.name")
    status: Literal["ok", "fail"] = Field(alias="cmdscope.heartbeat.status")
    on_time: bool = Field(alias="cmdscope.schedule.on_time")
    every_s: float | None = Field(default=None, gt=0, alias="cmdscope.heartbeat.every_s")
    grace_s: float = Field(default=0, ge=0, alias="cmdscope.heartbeat.grace_s")


class AuditRecord(HeartbeatRecord):
    kind: Literal["audit"]
    checks: list[str] = Field(alias="cmdscope.audit.checks")
    passed: list[str] = Field(alias="cmdscope.audit.passed")
    failed: list[str] = Field(alias="cmdscope.audit.failed")
    details: list[str] = Field(alias="cmdscope.audit.details")


_BY_KIND: dict[str, type[BaseModel]] = {
    "packet": PacketRecord, "gate": GateRecord, "commit": CommitRecord, "pipeline": PipelineRecord,
    "heartbeat": HeartbeatRecord, "audit": AuditRecord,
}


def validate_record(record: dict[str, Any]) -> BaseModel:
    """Validate a ledger record by its kind; raises pydantic.ValidationError naming the field."""
    kind = record.get("kind")
    if kind in ("command", "function", "denial"):
        return CommandRecord.model_validate(record)
    model = _BY_KIND.get(str(kind))
    if model is not None:
        return model.model_validate(record)
    return Envelope.model_validate(record)
