"""One schema in code (``cmdscope._schema``): the docs table is generated from it, the pydantic
models of ``cmdscope._records`` and the semantic-convention names agree with it."""

from __future__ import annotations

import importlib
import re

import pytest

from cmdscope import _records as records, _schema as schema
from conftest import ROOT

DOC = ROOT / "docs" / "telemetry.md"


def _doc_section(text: str) -> str:
    start = text.index("## Command attributes")
    table = text.index("| key | type | meaning |", start)
    end = text.index("\n\n", table)
    return text[table:end + 1]


def test_docs_table_is_generated_from_the_schema() -> None:
    """docs/telemetry.md's command-attribute table is exactly ``schema.command_table()``;
    on drift the message carries the table to paste."""
    assert _doc_section(DOC.read_text()) == schema.command_table(), (
        "docs/telemetry.md drifted from cmdscope._schema; the table should read:\n" + schema.command_table())


def test_command_model_matches_the_schema() -> None:
    """Every dotted field of ``CommandRecord`` is a schema key and the reverse."""
    aliases = {f.alias for f in records.CommandRecord.model_fields.values() if f.alias and "." in f.alias}
    assert aliases == {key for key, _, _ in schema.COMMAND_ATTRIBUTES}


@pytest.mark.parametrize("model", [records.PacketRecord, records.GateRecord, records.CommitRecord,
                                   records.PipelineRecord, records.HeartbeatRecord, records.AuditRecord])
def test_sdlc_models_use_schema_keys(model: type) -> None:
    aliases = {f.alias for f in model.model_fields.values() if f.alias and "." in f.alias}  # type: ignore[attr-defined]
    assert aliases <= schema.ALL_KEYS, sorted(aliases - schema.ALL_KEYS)


def test_types_in_the_table_are_the_models() -> None:
    """The documented type of each key is the one the model accepts."""
    fields = {f.alias: f for f in records.CommandRecord.model_fields.values() if f.alias}
    for key, kind, _ in schema.COMMAND_ATTRIBUTES:
        text = str(fields[key].annotation)
        wanted = {"str": "str", "int": "int", "bool": "bool", "str[]": "list[str]"}[kind]
        assert wanted in text or (kind == "str" and "Literal" in text), (key, kind, text)


def test_semantic_convention_names() -> None:
    """Each convention key equals opentelemetry-semantic-conventions' constant of the same
    name, where the installed version defines it (stable module first, then incubating)."""
    checked = 0
    for name, value in schema.SEMCONV.items():
        group = name.split("_")[0].lower()
        if group == "gen":
            group = "gen_ai"
        for module in (f"opentelemetry.semconv.attributes.{group}_attributes",
                       f"opentelemetry.semconv._incubating.attributes.{group}_attributes"):
            try:
                constant = getattr(importlib.import_module(module), name, None)
            except ImportError:
                continue
            if constant is not None:
                assert constant == value, (name, constant, value)
                checked += 1
                break
    assert checked >= 6  # error.type, process.*, host.name at least, on every supported version


def test_every_key_written_by_the_code_is_in_the_schema() -> None:
    """A dotted record key spelled out as a string in the recorder or the SDLC modules is a
    schema key (a typo or an undocumented key fails here)."""
    keys: set[str] = set()
    for path in [ROOT / "src/cmdscope/_pipeline.py", *sorted((ROOT / "src/cmdscope/sdlc").glob("*.py"))]:
        keys |= set(re.findall(r'rec(?:ord)?\["([a-z_]+\.[a-z_.]+)"\]\s*=', path.read_text()))
    assert keys and keys <= schema.ALL_KEYS, sorted(keys - schema.ALL_KEYS)
