"""The effective redaction rules: shipped YAML, user overlays and the team's synced registry.

Rules are data (``registry/redaction/*.yaml``, validated by :mod:`cmdscope._redaction.schema`).
Reading YAML and pydantic costs tens of milliseconds, far too much per command, so the compiled
rule rows are cached as plain data (:mod:`cmdscope._cache_files`: JSON, private to the user)
under the state directory, keyed by every rule file's path and contents: a command pays one
read and digest per rule file and one small JSON read.

Overlays use the danger registry's mechanism: each directory in ``CMDSCOPE_REGISTRY_PATH`` may
hold a ``redaction/`` directory, and so does the registry activated by ``cmdscope registry sync``.
An overlay adds rules and may ``disable`` shipped ones by name.
"""

from __future__ import annotations

import os

from cmdscope._paths import yaml_files as _yaml_files
from cmdscope._redaction.rules import GUARDS, VALUE_MODES, Rule

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

    from cmdscope._redaction.schema import RedactionFile, RedactionRuleSpec

REGISTRY_ENV = "CMDSCOPE_REGISTRY_PATH"
CACHE_FORMAT = 3
_CACHE_KEEP = 8  # rule sets kept side by side (checkouts, overlays)
_HERE = os.path.dirname(os.path.abspath(__file__))
_CODE = ("rules.py", "ruleset.py", "schema.py")


class RedactionRegistryError(ValueError):
    """A redaction rule file is invalid; the message names the file, the rule and the field."""


def shipped_dir() -> str:
    return os.path.join(os.path.dirname(os.path.realpath(_HERE)), "_registry", "redaction")


def overlay_dirs(environ: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """Registry overlay roots: CMDSCOPE_REGISTRY_PATH directories, then the synced registry."""
    from cmdscope._paths import synced_registry_dir

    env = os.environ if environ is None else environ
    from cmdscope import _settings as settings  # the entries that exist (a missing one was reported)

    entries = settings.get(REGISTRY_ENV) if environ is None else env.get(REGISTRY_ENV, "").split(os.pathsep)
    roots = [d for d in entries if d and os.path.isdir(d)]
    synced = synced_registry_dir(env)
    if synced:
        roots.append(synced)
    return roots


def rule_files(environ: os._Environ[str] | dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(shipped files, overlay files) in the order they apply."""
    overlay: list[str] = []
    for root in overlay_dirs(environ):
        overlay.extend(_yaml_files(os.path.join(root, "redaction")))
    return _yaml_files(shipped_dir()), overlay


def _key(files: list[str]) -> str:
    from cmdscope import _cache_files as cache_files
    from cmdscope._paths import file_stamps

    code = file_stamps([os.path.join(_HERE, n) for n in _CODE])  # the code reading the rows
    return cache_files.content_key(files, f"redaction {CACHE_FORMAT}", *code)


def _cache_dir() -> str:
    from cmdscope._paths import state_dir_str

    return os.path.join(state_dir_str(), "redaction-cache")


def _to_rules(rows: list[tuple[Any, ...]] | list[list[Any]]) -> tuple[Rule, ...]:
    """Rules from rows (cached plain data included): TypeError, ValueError or KeyError for a
    row of another shape."""
    out = []
    for name, kws, pattern, flags, guard, value, command in rows:
        if (type(name) is not str or type(pattern) is not str or type(flags) is not int or type(value) is not int
                or not all(type(k) is str for k in kws) or not all(type(c) is str for c in command)
                or not (guard is None or type(guard) is str)):
            raise TypeError("bad redaction rule row")
        out.append(Rule(name, tuple(kws), pattern, flags, GUARDS[guard] if guard else None, value, tuple(command)))
    return tuple(out)


def load_rules(environ: os._Environ[str] | dict[str, str] | None = None) -> tuple[Rule, ...]:
    """The effective rules, from the cache when no file changed since it was written."""
    from cmdscope import _cache_files as cache_files

    shipped, overlay = rule_files(environ)
    key = _key(shipped + overlay)
    path = os.path.join(_cache_dir(), cache_files.file_name("rules", key))
    rows = cache_files.load(path, key)
    if rows is not None:
        try:
            return _to_rules(rows)
        except (TypeError, ValueError, LookupError):
            pass  # another shape (damaged or crafted): rebuilt from the files below
    rows = compile_rows(shipped, overlay)
    cache_files.store(path, key, rows)
    cache_files.prune(_cache_dir(), "rules", _CACHE_KEEP)
    return _to_rules(rows)


def read_file(path: str) -> RedactionFile:
    """A validated :class:`RedactionFile`; any problem raises RedactionRegistryError (one line)."""
    import yaml
    from pydantic import ValidationError

    from cmdscope._redaction.schema import RedactionFile

    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise RedactionRegistryError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise RedactionRegistryError(f"{path}: {where}invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RedactionRegistryError(f"{path}: field '(file)': expected a mapping at top level")
    try:
        return RedactionFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            items = raw.get("rules")
            item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
            name = item.get("name") if isinstance(item, dict) else None
            where = f"rule #{loc[1] + 1}" + (f" ({name})" if isinstance(name, str) else "") + ": "
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "(file)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        text = f"{path}: {where}field '{field}': {msg}"
        raise RedactionRegistryError(text.encode("unicode_escape").decode("ascii")) from None


def load_specs(shipped: list[str], overlay: list[str]) -> list[tuple[RedactionRuleSpec, str]]:
    """Every enabled rule spec with the file it comes from, shipped first."""
    specs: list[tuple[RedactionRuleSpec, str]] = []
    disabled: dict[str, str] = {}
    for path in shipped:
        data = read_file(path)
        specs.extend((rule, path) for rule in data.rules)
    for path in overlay:
        data = read_file(path)
        if data.version:
            raise RedactionRegistryError(f"{path}: field 'version': only the shipped redaction "
                                         "rules declare a version")
        specs.extend((rule, path) for rule in data.rules)
        for name in data.disable:
            disabled[name] = path
    names = {spec.name for spec, _ in specs}
    for name, path in disabled.items():
        if name not in names:
            raise RedactionRegistryError(f"{path}: field 'disable': no rule named {name!r}")
    return [(spec, path) for spec, path in specs if spec.name not in disabled]


def spec_row(s: RedactionRuleSpec) -> tuple:
    flags = (2 if s.ignore_case else 0) | (16 if s.dotall else 0)
    return (s.name, tuple(s.keywords), s.pattern, flags, s.guard,
            VALUE_MODES[s.value], tuple(s.command))


def compile_rows(shipped: list[str], overlay: list[str]) -> list[tuple]:
    return [spec_row(spec) for spec, _ in load_specs(shipped, overlay)]


def shipped_version() -> str:
    for path in _yaml_files(shipped_dir()):
        data = read_file(path)
        if data.version:
            return str(data.version)
    return "0.0.0"
