"""Load, validate, merge and compile the failure taxonomy; cache the compiled form.

Sources: the shipped `registry/failure-taxonomy.yaml`, then user overlays: every `*.yaml` /
`*.yml` file in the directories listed in `CMDSCOPE_TAXONOMY_PATH` (os.pathsep separated), in
order. The compiled taxonomy is cached as plain data (:mod:`cmdscope._cache_files`: JSON,
private to the user, keyed by the contents of every source file) under
`$XDG_CACHE_HOME/cmdscope/`, so a CLI process that finds a valid cache imports neither yaml nor
pydantic (a few milliseconds instead of about 150 ms).
"""

from __future__ import annotations

import os
import re

from cmdscope._failures.compiled import (
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

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process; pathlib ~4 ms, so paths are strings here
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

TAXONOMY_FILE = "failure-taxonomy.yaml"
PATH_ENV = "CMDSCOPE_TAXONOMY_PATH"
# Bump when the compiled structures change so old caches are ignored.
_CACHE_FORMAT = 5
_FLAGS = {"IGNORECASE": re.IGNORECASE, "DOTALL": re.DOTALL}
_CACHE_KEEP = 8  # compiled taxonomies kept in the cache directory
_CACHE_PREFIX = "failure-taxonomy"
_KEYWORD_MAX = 10  # characters of a keyword the prefilter looks for
_HERE = os.path.dirname(os.path.abspath(__file__))
_CODE = ("compiled.py", "taxonomy.py", "model.py")  # code the cached data's meaning depends on


class TaxonomyError(ValueError):
    """A taxonomy file is invalid; the message names the file, the class or matcher and the field."""


def builtin_taxonomy_path() -> Path:
    from pathlib import Path

    return Path(_builtin_path())


def _builtin_path() -> str:
    """The shipped taxonomy (``cmdscope._paths.builtin_registry_dir()``, without pathlib)."""
    return os.path.join(os.path.dirname(os.path.realpath(_HERE)), "_registry", TAXONOMY_FILE)


def overlay_paths(env: dict[str, str] | None = None) -> list[Path]:
    """The overlay files named by CMDSCOPE_TAXONOMY_PATH, in load order."""
    from pathlib import Path

    return [Path(p) for p in _overlay_files(env)]


def _overlay_files(env: Any = None) -> list[str]:
    if env is None:  # this process's: the entries that exist (cmdscope._settings said which do not)
        from cmdscope import _settings as settings

        entries = list(settings.get(PATH_ENV))
    else:
        entries = env.get(PATH_ENV, "").split(os.pathsep)
    files: list[str] = []
    for entry in entries:
        if not entry:
            continue
        path = os.path.expanduser(entry)
        if os.path.isfile(path):
            files.append(path)
        elif os.path.isdir(path):
            files.extend(sorted(os.path.join(path, n) for n in os.listdir(path)
                                if n.endswith((".yaml", ".yml")) and os.path.isfile(os.path.join(path, n))))
    return files


def cache_dir() -> Path:
    from pathlib import Path

    return Path(_cache_dir())


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cmdscope")


def _cache_key(sources: list[str]) -> str:
    """Every source file's real path and contents, plus the code that reads the cache."""
    from cmdscope import _cache_files as cache_files
    from cmdscope._version import __version__

    code = []
    for name in _CODE:
        try:
            st = os.stat(os.path.join(_HERE, name))
            code.append(f"{name}\0{st.st_mtime_ns}\0{st.st_size}")
        except OSError:
            code.append(f"{name}\0missing")
    return cache_files.content_key([os.path.realpath(p) for p in sources],
                                   f"taxonomy {_CACHE_FORMAT}", __version__, *code)


def load_taxonomy(*, base: Path | str | None = None, overlays: list[Path] | list[str] | None = None,
                  use_cache: bool = True) -> CompiledTaxonomy:
    """The effective compiled taxonomy (base file plus overlays), from the cache when valid."""
    from cmdscope import _cache_files as cache_files

    base_path = os.fspath(base) if base is not None else _builtin_path()
    overlay_files = _overlay_files() if overlays is None else [os.fspath(p) for p in overlays]
    sources = [base_path, *overlay_files]
    for path in sources:
        try:
            os.stat(path)
        except OSError as exc:
            raise TaxonomyError(f"{exc.filename}: cannot read taxonomy file ({exc.strerror})") from None
    if not use_cache:
        return _compile_files(base_path, overlay_files)
    key = _cache_key(sources)
    cache_file = os.path.join(_cache_dir(), cache_files.file_name(_CACHE_PREFIX, key))
    data = cache_files.load(cache_file, key)
    if data is not None:
        try:
            return CompiledTaxonomy.from_data(data)
        except (LookupError, TypeError, ValueError, AttributeError):
            pass  # another shape (damaged or crafted): rebuilt from the files below
    compiled = _compile_files(base_path, overlay_files)
    cache_files.store(cache_file, key, compiled.to_data())
    # Keep a few: checkouts or overlay sets used side by side must not evict each other on
    # every run (each miss costs a yaml + pydantic compile, ~150 ms).
    cache_files.prune(_cache_dir(), _CACHE_PREFIX, _CACHE_KEEP)
    return compiled


def _compile_files(base_path: str, overlay_files: list[str]) -> CompiledTaxonomy:
    from pathlib import Path

    return compile_taxonomy(Path(base_path), [Path(p) for p in overlay_files])


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
    from cmdscope._failures.model import OverlayFile, TaxonomyFile

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
    by_word: dict[str, list[int]] = {}
    always: set[int] = set()
    for index, cm in enumerate(text):
        words = keywords[id(cm)]
        if not words:
            always.add(index)
            continue
        for word in words:
            # A prefix of a required substring is required too: short keys keep the automaton
            # (most of the cache, so most of a cold load) small at little loss of selectivity.
            by_word.setdefault(word[:_KEYWORD_MAX], []).append(index)
    return CompiledTaxonomy(
        version=version,
        sources=sources,
        classes=infos,
        outcome_matchers=strongest_first([c for c in matchers if c.tier == TIER_OUTCOME]),
        signal_matchers=strongest_first([c for c in matchers if c.tier == TIER_SIGNAL]),
        context_matchers=strongest_first([c for c in matchers if c.tier == TIER_CONTEXT]),
        text_matchers=text,
        keywords={word: tuple(indices) for word, indices in by_word.items()},
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
