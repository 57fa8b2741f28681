"""Load, validate, merge and compile the failure taxonomy; cache the compiled form.

Sources: the shipped `registry/failure-taxonomy.yaml`, then user overlays: every `*.yaml` /
`*.yml` file in the directories listed in `CMDSCOPE_TAXONOMY_PATH` (os.pathsep separated), in
order. The compiled taxonomy is pickled under `$XDG_CACHE_HOME/cmdscope/` keyed by the sources'
paths, sizes and mtimes, so a CLI process that finds a valid cache imports neither yaml nor
pydantic (about 1 ms instead of about 150 ms).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from cmdscope.failures.compiled import (
    STREAM_ANY,
    STREAM_STDERR,
    STREAM_STDOUT,
    TIER_CONTEXT,
    TIER_OUTCOME,
    TIER_SIGNAL,
    TIER_TEXT,
    ClassInfo,
    CompiledMatcher,
    CompiledTaxonomy,
)

TAXONOMY_FILE = "failure-taxonomy.yaml"
PATH_ENV = "CMDSCOPE_TAXONOMY_PATH"
# Bump when the compiled structures change so old pickles are ignored.
_CACHE_FORMAT = 4
_FLAGS = {"IGNORECASE": re.IGNORECASE, "DOTALL": re.DOTALL}
_CACHE_KEEP = 8  # compiled taxonomies kept in the cache directory
_KEYWORD_MAX = 10  # characters of a keyword the prefilter looks for


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class TaxonomyError(ValueError):
    """A taxonomy file is invalid; the message names the file, the class or matcher and the field."""


def builtin_taxonomy_path() -> Path:
    from cmdscope.paths import builtin_registry_dir

    return builtin_registry_dir() / TAXONOMY_FILE


def overlay_paths(env: dict[str, str] | None = None) -> list[Path]:
    """The overlay files named by CMDSCOPE_TAXONOMY_PATH, in load order."""
    if env is None:  # this process's: the entries that exist (cmdscope.settings said which do not)
        from cmdscope import settings

        entries: Iterable[str] = settings.get(PATH_ENV)
    else:
        entries = env.get(PATH_ENV, "").split(os.pathsep)
    files: list[Path] = []
    for entry in entries:
        if not entry:
            continue
        path = Path(entry).expanduser()
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return files


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cmdscope"


def _cache_key(sources: list[Path]) -> str:
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{sys.version_info[:2]}".encode())
    for path in sources:
        st = path.stat()
        digest.update(f"|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def load_taxonomy(*, base: Path | None = None, overlays: list[Path] | None = None,
                  use_cache: bool = True) -> CompiledTaxonomy:
    """The effective compiled taxonomy (base file plus overlays), from the cache when valid."""
    base_path = base if base is not None else builtin_taxonomy_path()
    overlay_files = overlay_paths() if overlays is None else overlays
    sources = [base_path, *overlay_files]
    try:
        key = _cache_key(sources)
    except OSError as exc:
        raise TaxonomyError(f"{exc.filename}: cannot read taxonomy file ({exc.strerror})") from None
    cache_file = cache_dir() / f"failure-taxonomy-{key}.pickle"
    if use_cache:
        try:
            with open(cache_file, "rb") as fh:
                cached = pickle.load(fh)
            if isinstance(cached, CompiledTaxonomy):
                return cached
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            pass
    compiled = compile_taxonomy(base_path, overlay_files)
    if use_cache:
        _write_cache(cache_file, compiled)
    return compiled


def _write_cache(cache_file: Path, compiled: CompiledTaxonomy) -> None:
    # Best effort: a read-only home must not break classification.
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(compiled, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache_file)
        # Keep a few: checkouts or overlay sets used side by side must not evict each other on
        # every run (each miss costs a yaml + pydantic compile, ~150 ms).
        cached = sorted(cache_file.parent.glob("failure-taxonomy-*.pickle"), key=_mtime, reverse=True)
        for old in cached[_CACHE_KEEP:]:
            if old != cache_file:
                old.unlink(missing_ok=True)
    except OSError:
        pass


# ---------------------------------------------------------------------------- parsing


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise TaxonomyError(f"{path}: invalid YAML at {where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: invalid YAML: {exc}") from None


def _describe_location(data: Any, loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into `class X matcher Y field Z` using the raw data's ids."""
    parts: list[str] = []
    node = data
    pending_field: list[str] = []
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            ident = node.get("id") or node.get("class") if isinstance(node, dict) else None
            label = pending_field.pop() if pending_field else "item"
            singular = {"classes": "class", "matchers": "matcher", "examples": "example", "extend": "extend"}.get(label, label)
            parts.append(f"{singular} {ident!s}" if ident else f"{singular} #{item + 1}")
        else:
            if pending_field:
                parts.append(pending_field.pop())
            pending_field.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    if pending_field:
        parts.append(f"field {pending_field[-1]!r}")
    return " ".join(parts) if parts else "top level"


def _validate(model: Any, data: Any, path: Path) -> Any:
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise TaxonomyError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _describe_location(data, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TaxonomyError(f"{path}: {where}: {msg}{more}") from None


def compile_taxonomy(base_path: Path, overlay_files: list[Path]) -> CompiledTaxonomy:
    """Parse, validate, merge overlays and compile. Raises TaxonomyError on any bad input."""
    from cmdscope.failures.model import OverlayFile, TaxonomyFile

    base = _validate(TaxonomyFile, _read_yaml(base_path), base_path)
    classes: dict[str, dict[str, Any]] = {}
    matcher_owner: dict[str, Path] = {}
    for cls in base.classes:
        if cls.id in classes:
            raise TaxonomyError(f"{base_path}: class {cls.id}: duplicate class id")
        classes[cls.id] = {"cls": cls, "matchers": list(cls.matchers), "examples": list(cls.examples),
                           "priority": cls.priority}
        for m in cls.matchers:
            if m.id in matcher_owner:
                raise TaxonomyError(f"{base_path}: matcher {m.id}: duplicate matcher id")
            matcher_owner[m.id] = base_path
    if "unknown" not in classes:
        raise TaxonomyError(f"{base_path}: class unknown: the taxonomy must define the 'unknown' class")

    version = base.version
    overlay_tags: list[str] = []
    disabled: set[str] = set()
    priorities: dict[str, int] = {}
    for path in overlay_files:
        ov = _validate(OverlayFile, _read_yaml(path), path)
        overlay_tags.append(f"{ov.overlay}-{ov.version}")
        for cls in ov.classes:
            if cls.id in classes:
                raise TaxonomyError(f"{path}: class {cls.id}: already defined (use 'extend' to add matchers)")
            classes[cls.id] = {"cls": cls, "matchers": list(cls.matchers), "examples": list(cls.examples),
                               "priority": cls.priority}
            for m in cls.matchers:
                _claim(matcher_owner, m.id, path)
        for ext in ov.extend:
            if ext.class_ not in classes:
                raise TaxonomyError(f"{path}: extend {ext.class_}: no such class")
            for m in ext.matchers:
                if not m.id.startswith(ext.class_ + "."):
                    raise TaxonomyError(f"{path}: extend {ext.class_} matcher {m.id}: id must start with '{ext.class_}.'")
                _claim(matcher_owner, m.id, path)
            classes[ext.class_]["matchers"].extend(ext.matchers)
            classes[ext.class_]["examples"].extend(ext.examples)
        for ident in ov.disable:
            if ident == "unknown":
                raise TaxonomyError(f"{path}: disable: the 'unknown' class cannot be disabled")
            if ident not in classes and ident not in matcher_owner:
                raise TaxonomyError(f"{path}: disable: no class or matcher {ident!r}")
            disabled.add(ident)
        for ident, prio in ov.priorities.items():
            if ident not in classes and ident not in matcher_owner:
                raise TaxonomyError(f"{path}: priorities: no class or matcher {ident!r}")
            priorities[ident] = prio
    if overlay_tags:
        version = f"{version}+{'.'.join(overlay_tags)}"

    return _compile(version, [str(p) for p in [base_path, *overlay_files]], classes, disabled, priorities)


def _claim(owner: dict[str, Path], matcher_id: str, path: Path) -> None:
    if matcher_id in owner:
        raise TaxonomyError(f"{path}: matcher {matcher_id}: duplicate matcher id (first in {owner[matcher_id]})")
    owner[matcher_id] = path


def _compile(version: str, sources: list[str], classes: dict[str, dict[str, Any]], disabled: set[str],
             priorities: dict[str, int]) -> CompiledTaxonomy:
    import ahocorasick

    infos: dict[str, ClassInfo] = {}
    matchers: list[CompiledMatcher] = []
    keywords: dict[int, list[str] | None] = {}
    order = 0
    for class_id, entry in classes.items():
        cls = entry["cls"]
        class_prio = priorities.get(class_id, entry["priority"])
        infos[class_id] = ClassInfo(class_id, cls.title, cls.description, cls.remediation, class_prio,
                                    [e.model_dump() for e in entry["examples"]])
        if class_id in disabled:
            continue
        for m in entry["matchers"]:
            order += 1
            if m.id in disabled:
                continue
            prio = priorities.get(m.id, m.priority if m.priority is not None else class_prio)
            # The strongest condition decides the tier; a signal matcher may also need a pattern.
            tier = (TIER_OUTCOME if m.outcomes else TIER_SIGNAL if m.signals or m.decisive
                    else TIER_TEXT if m.pattern is not None else TIER_CONTEXT)
            flags = re.MULTILINE
            for name in m.flags:
                flags |= _FLAGS[name]
            cm = CompiledMatcher(
                id=m.id, class_id=class_id, tier=tier, priority=prio, order=order,
                pattern=m.pattern, flags=flags,
                stream={"any": STREAM_ANY, "stderr": STREAM_STDERR, "stdout": STREAM_STDOUT}[m.stream],
                exit_codes=frozenset(m.exit_codes) if m.exit_codes is not None else None,
                signals=frozenset(m.signals) if m.signals is not None else None,
                outcomes=frozenset(m.outcomes) if m.outcomes is not None else None,
                tools=frozenset(t.lower() for t in m.tools) if m.tools is not None else None,
                argv_has=tuple(m.argv_has) if m.argv_has is not None else None,
                phases=frozenset(m.phases) if m.phases is not None else None,
                fallback=m.fallback,
            )
            matchers.append(cm)
            if tier == TIER_TEXT:
                keywords[id(cm)] = m.keywords if m.keywords is not None else derive_keywords(m.pattern, flags)

    def strongest_first(group: list[CompiledMatcher]) -> list[CompiledMatcher]:
        # Specific evidence before generic fallbacks, then priority, then declaration order.
        return sorted(group, key=lambda c: (c.fallback, -c.priority, c.order))

    text = strongest_first([c for c in matchers if c.tier == TIER_TEXT])
    automaton = ahocorasick.Automaton()
    by_word: dict[str, list[int]] = {}
    always: set[int] = set()
    for index, cm in enumerate(text):
        words = keywords[id(cm)]
        if not words:
            always.add(index)
            continue
        for word in words:
            # A prefix of a required substring is required too: short keys keep the automaton
            # (most of the pickle, so most of a cold load) small at little loss of selectivity.
            by_word.setdefault(word[:_KEYWORD_MAX], []).append(index)
    for word, indices in by_word.items():
        automaton.add_word(word, tuple(indices))
    if by_word:
        automaton.make_automaton()
    return CompiledTaxonomy(
        version=version,
        sources=sources,
        classes=infos,
        outcome_matchers=strongest_first([c for c in matchers if c.tier == TIER_OUTCOME]),
        signal_matchers=strongest_first([c for c in matchers if c.tier == TIER_SIGNAL]),
        context_matchers=strongest_first([c for c in matchers if c.tier == TIER_CONTEXT]),
        text_matchers=text,
        automaton=automaton if by_word else None,
        always=frozenset(always),
    )


def derive_keywords(pattern: str | None, flags: int = 0) -> list[str] | None:
    """Literal lower-case words one of which every match must contain, or None if unsure.

    Walks the regex parse tree: a top-level alternation needs a literal (>= 3 chars) in every
    branch; a sequence uses its longest literal run. None means "always run this regex".
    """
    if pattern is None:
        return None
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse  # type: ignore[no-redef]
    try:
        tree = sre_parse.parse(pattern, flags)
    except Exception:
        return None
    items = list(tree)
    if len(items) == 1 and items[0][0] == sre_parse.BRANCH:
        words = []
        for branch in items[0][1][1]:
            word = _longest_literal(list(branch), sre_parse)
            if word is None:
                return None
            words.append(word)
        return sorted(set(words))
    word = _longest_literal(items, sre_parse)
    return [word] if word else None


def _longest_literal(items: list[Any], sre_parse: Any) -> str | None:
    best = ""
    run: list[str] = []
    for op, arg in items:
        if op == sre_parse.LITERAL:
            run.append(chr(arg))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    if len(run) > len(best):
        best = "".join(run)
    best = best.lower()
    return best if len(best.strip()) >= 3 else None
