"""Pydantic models of the taxonomy files (base file and user overlays).

Imported only when the compiled cache is missing or stale: never on the per-command path.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_RE = r"^[a-z][a-z0-9_]*$"
MATCHER_ID_RE = r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_.-]*$"
SEMVER_RE = r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"
KNOWN_OUTCOMES = ("failure", "timeout", "interrupted", "error", "denied")
KNOWN_FLAGS = ("IGNORECASE", "DOTALL")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matcher(_Strict):
    """One way to recognise a class. Every condition given must hold."""

    id: str = Field(pattern=MATCHER_ID_RE)
    pattern: str | None = None
    flags: list[Literal["IGNORECASE", "DOTALL"]] = []
    keywords: list[str] | None = None
    stream: Literal["stderr", "stdout", "any"] = "any"
    exit_codes: list[int] | None = None
    signals: list[int] | None = None
    outcomes: list[Literal["failure", "timeout", "interrupted", "error", "denied"]] | None = None
    tools: list[str] | None = None
    argv_has: list[str] | None = None
    phases: list[str] | None = None
    priority: int | None = Field(default=None, ge=0, le=10000)
    # A generic summary line (make's "*** Error 2", pip's closing "No matching distribution",
    # "failed to push some refs"): it decides only when no specific text matcher matched.
    fallback: bool = False
    # The tool documents this exit code as an answer (grep 1 = no match): decided before any text.
    decisive: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.MULTILINE)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords_lower(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for word in value:
                if not word or word != word.lower():
                    raise ValueError(f"keyword {word!r} must be non-empty lower case")
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> Matcher:
        conditions = (self.pattern, self.exit_codes, self.signals, self.outcomes, self.tools, self.phases)
        if all(c is None for c in conditions):
            raise ValueError("a matcher needs at least one of pattern, exit_codes, signals, outcomes, tools, phases")
        if self.keywords is not None and self.pattern is None:
            raise ValueError("keywords need a pattern")
        if self.fallback and self.pattern is None:
            raise ValueError("fallback applies to text matchers: it needs a pattern")
        if self.decisive and (self.exit_codes is None or self.tools is None):
            raise ValueError("a decisive matcher needs exit_codes and tools (a tool's documented exit code)")
        return self


class Example(_Strict):
    """A failed command that must classify to the class that lists it."""

    executable: str
    argv: str | list[str] | None = None
    exit_code: int | None = None
    signal: int | None = None
    outcome: Literal["failure", "timeout", "interrupted", "error", "denied"] = "failure"
    phase: str | None = None
    stderr: str = ""
    stdout: str = ""


class FailureClass(_Strict):
    id: str = Field(pattern=ID_RE)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    remediation: str = Field(min_length=1)
    priority: int = Field(ge=0, le=10000)
    matchers: list[Matcher]
    examples: list[Example] = Field(min_length=1)

    @model_validator(mode="after")
    def _matcher_ids_prefixed(self) -> FailureClass:
        for matcher in self.matchers:
            if not matcher.id.startswith(self.id + "."):
                raise ValueError(f"matcher id {matcher.id!r} must start with {self.id + '.'!r}")
        return self


class TaxonomyFile(_Strict):
    """registry/failure-taxonomy.yaml."""

    version: str = Field(pattern=SEMVER_RE)
    classes: list[FailureClass] = Field(min_length=1)


class Extension(_Strict):
    """Overlay: more matchers or examples for an existing class."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    class_: str = Field(alias="class", pattern=ID_RE)
    matchers: list[Matcher] = []
    examples: list[Example] = []


class OverlayFile(_Strict):
    """A user overlay (a *.yaml file in a CMDSCOPE_TAXONOMY_PATH directory)."""

    overlay: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: str = Field(pattern=SEMVER_RE)
    classes: list[FailureClass] = []
    extend: list[Extension] = []
    disable: list[str] = []
    priorities: dict[str, int] = {}
