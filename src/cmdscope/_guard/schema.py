"""Pydantic models of registry and policy files. Imported only when YAML must be (re)read."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cmdscope._guard.analyzers import ANALYZERS
from cmdscope._guard.pathclass import CLASSES

Severity = Literal["critical", "high", "medium", "low"]
Category = Literal["fs_destroy", "git_worktree", "git_history", "git_remote", "db_destroy",
                   "infra_destroy", "container_prune", "disk_system", "process_system",
                   "permissions", "remote_code_exec", "credential_exposure", "package_publish"]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
SEMVER = r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$"
RULE_ID = r"^[a-z][a-z0-9_]*(?:\.[a-z0-9][a-z0-9_-]*)+$"
_REGEX_FIELDS = ("args_regex", "args_none_regex", "argv_regex", "argv_none_regex", "fed_regex",
                 "redirect_regex", "payload_regex", "payload_none_regex")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchSpec(_Strict):
    executable: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    tool: str | None = None
    subcommand: list[str] | None = None
    flags_any: list[str] | None = None
    flags_all: list[str] | None = None
    flags_none: list[str] | None = None
    args_any: list[str] | None = None
    args_regex: str | None = None
    args_none_regex: str | None = None
    argv_regex: str | None = None
    argv_none_regex: str | None = None
    path_any: list[str] | None = None
    path_skip: int | None = Field(default=None, ge=0)
    after_dashdash: bool | None = None
    min_positionals: int | None = Field(default=None, ge=0)
    max_positionals: int | None = Field(default=None, ge=0)
    fed_by_any: list[str] | None = None
    fed_regex: str | None = None
    redirect_regex: str | None = None
    payload_regex: str | None = None
    payload_none_regex: str | None = None
    sudo: bool | None = None
    analyzer: str | None = None
    facts_all: list[str] | None = None
    facts_any: list[str] | None = None
    facts_none: list[str] | None = None
    line_requires: list[str] | None = None

    @field_validator(*_REGEX_FIELDS)
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @field_validator("path_any")
    @classmethod
    def _known_classes(cls, value: list[str] | None) -> list[str] | None:
        for item in value or ():
            if item not in CLASSES:
                raise ValueError(f"unknown path class {item!r} (one of {', '.join(CLASSES)})")
        return value

    @field_validator("analyzer")
    @classmethod
    def _known_analyzer(cls, value: str | None) -> str | None:
        if value is not None and value not in ANALYZERS:
            raise ValueError(f"unknown analyzer {value!r} (one of {', '.join(ANALYZERS)})")
        return value

    @model_validator(mode="after")
    def _facts_need_analyzer(self) -> MatchSpec:
        if (self.facts_all or self.facts_any or self.facts_none) and not self.analyzer:
            raise ValueError("facts_all/facts_any/facts_none need an analyzer")
        return self


class RuleSpec(_Strict):
    id: str = Field(pattern=RULE_ID)
    title: str = Field(min_length=3)
    category: Category
    severity: Severity
    rationale: str = Field(min_length=10)
    playbook: str = Field(min_length=3)
    keywords: list[str] | None = None
    match: MatchSpec
    examples: list[str] = Field(min_length=1)
    near_misses: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _keywords_for_wildcards(self) -> RuleSpec:
        if "*" in self.match.executable and not self.keywords:
            raise ValueError("a rule for any executable needs 'keywords' for the prefilter")
        return self


class ToolSpecModel(_Strict):
    long: list[str] = Field(default_factory=list)
    value_short: str = ""
    value_long: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    bundling: bool = True
    options: bool = True
    payload_opts: list[str] = Field(default_factory=list)
    payload_positionals: bool = False


class OverrideSpec(_Strict):
    severity: Severity


class RegistryFile(_Strict):
    version: str | None = Field(default=None, pattern=SEMVER)
    description: str | None = None
    tools: dict[str, ToolSpecModel] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    overrides: dict[str, OverrideSpec] = Field(default_factory=dict)
    disable: list[str] = Field(default_factory=list)


class PolicyMatch(_Strict):
    danger_rules: list[str] | None = None
    categories: list[Category] | None = None
    min_severity: Severity | None = None
    executable: list[str] | None = None
    command: str | None = None
    actor: list[str] | None = None
    phase: list[str] | None = None
    branch: list[str] | None = None
    worktree: list[str] | None = None
    push_target: list[str] | None = None  # branches a `git push` updates (not the checked-out one)

    @field_validator("command")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class PolicyRuleSpec(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    match: PolicyMatch = Field(default_factory=PolicyMatch)
    action: Literal["allow", "warn", "deny"]
    message: str = ""


class PolicyFile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: str = Field(pattern=SEMVER)
    description: str | None = None
    rules: list[PolicyRuleSpec] = Field(min_length=1)
