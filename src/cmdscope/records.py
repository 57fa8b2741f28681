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
    "integration_error",
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
    policy_action: Literal["allow", "warn", "deny"] | None = Field(default=None, alias="cmdscope.policy.action")
    policy_mode: Literal["observe", "warn", "enforce"] | None = Field(default=None, alias="cmdscope.policy.mode")
    danger_rules: list[str] | None = Field(default=None, alias="cmdscope.danger.rule")
    danger_severity: Severity | None = Field(default=None, alias="cmdscope.danger.severity")
    danger_categories: list[str] | None = Field(default=None, alias="cmdscope.danger.category")
    registry_version: str | None = Field(default=None, alias="cmdscope.registry.version")
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


def validate_record(record: dict[str, Any]) -> BaseModel:
    """Validate a ledger record by its kind; raises pydantic.ValidationError naming the field."""
    kind = record.get("kind")
    if kind in ("command", "function", "denial"):
        return CommandRecord.model_validate(record)
    return Envelope.model_validate(record)
