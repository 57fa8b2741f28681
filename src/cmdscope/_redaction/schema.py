"""Pydantic model of redaction rule files (registry/redaction/*.yaml and user overlays).

Imported only when a file must be (re)read: the hot path reads the compiled cache.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[a-z0-9][a-z0-9._-]*$"
VERSION = r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$"
ValueMode = Literal["whole", "arg", "attached", "assign", "userpass", "block"]
GuardName = Literal["literal", "key-material", "weak-key", "assignment", "mid-name",
                    "k8s-secret-literal"]


class RedactionRuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME, description="the marker: [REDACTED:<name>]")
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    pattern: str = Field(min_length=1)
    ignore_case: bool = False
    dotall: bool = False
    value: ValueMode = "whole"
    guard: GuardName | None = None
    command: list[str] = Field(default_factory=list, description="the match must stand in a "
                               "simple command run by one of these programs")
    examples: list[str] = Field(min_length=1)
    near_misses: list[str] = Field(min_length=1)

    @field_validator("keywords")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        for kw in value:
            if not kw or kw != kw.lower():
                raise ValueError(f"keyword {kw!r} must be a non-empty lowercase string")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regex: {exc}") from None
        if compiled.match(""):
            raise ValueError("the regex matches the empty string")
        return value

    @model_validator(mode="after")
    def _assign_needs_sep(self) -> RedactionRuleSpec:
        if self.value == "assign" and "(?P<sep>" not in self.pattern:
            raise ValueError("value 'assign' needs a group named 'sep' (= or :) in the pattern")
        return self


class RedactionFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str | None = Field(default=None, pattern=VERSION)
    rules: list[RedactionRuleSpec] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list, description="shipped rule names to switch off")
