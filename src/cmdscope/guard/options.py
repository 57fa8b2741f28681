"""Command-line option parsing by getopt rules: bundled short flags, long-option prefixes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ToolSpec:
    """How one tool (``rm``, ``git push``) parses its options; loaded from the registry's tools."""

    long: frozenset[str] = frozenset()        # known long options, for unambiguous-prefix resolution
    value_short: frozenset[str] = frozenset()  # short options that take a value (``-o val``)
    value_long: frozenset[str] = frozenset()   # long options that take a value (``--repo x``)
    aliases: dict[str, str] = field(default_factory=dict)  # ``-r`` -> ``--recursive``
    bundling: bool = True                     # ``-rf`` is ``-r -f``
    options: bool = True                      # False: every argument is positional (find, dd)
    payload_opts: frozenset[str] = frozenset()  # options whose value is code (``psql -c``)
    payload_positionals: bool = False         # positionals are code (``redis-cli FLUSHALL``)

    def canonical(self, flag: str) -> str:
        return self.aliases.get(flag, flag)


DEFAULT_SPEC = ToolSpec()


@dataclass(frozen=True)
class ParsedArgs:
    flags: frozenset[str]
    values: dict[str, tuple[str, ...]]
    positionals: tuple[str, ...]
    after_dashdash: int | None  # index into positionals where ``--`` was
    invalid: bool               # an option the tool cannot parse: the tool does nothing


def _resolve_long(name: str, spec: ToolSpec) -> str | None:
    """Full long-option name for ``name`` (a getopt_long / git parse-options unique prefix)."""
    if not spec.long or name in spec.long:
        return name
    hits = [opt for opt in spec.long if opt.startswith(name)]
    if len(hits) == 1:
        return hits[0]
    return None  # ambiguous or unknown: the tool refuses to run


def parse_args(args: tuple[str, ...] | list[str], spec: ToolSpec) -> ParsedArgs:
    flags: set[str] = set()
    values: dict[str, list[str]] = {}
    positionals: list[str] = []
    dashdash: int | None = None
    invalid = False
    if not spec.options:
        return ParsedArgs(frozenset(), {}, tuple(args), None, False)
    i, n = 0, len(args)
    while i < n:
        arg = args[i]
        i += 1
        if dashdash is not None or arg == "-" or not arg.startswith("-") or len(arg) == 1:
            positionals.append(arg)
            continue
        if arg == "--":
            dashdash = len(positionals)
            continue
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            full = _resolve_long(name, spec)
            if full is None:
                invalid = True
                continue
            flag = spec.canonical("--" + full)
            flags.update(flag.split())
            if eq:
                values.setdefault(flag, []).append(value)
            elif full in spec.value_long and i < n:
                values.setdefault(flag, []).append(args[i])
                i += 1
            continue
        if not spec.bundling:
            flags.update(spec.canonical(arg).split())
            continue
        body = arg[1:]
        for j, ch in enumerate(body):
            flag = spec.canonical("-" + ch)
            flags.update(flag.split())
            if ch in spec.value_short:
                rest = body[j + 1:]
                if rest:
                    values.setdefault(flag, []).append(rest)
                elif i < n:
                    values.setdefault(flag, []).append(args[i])
                    i += 1
                break
    return ParsedArgs(
        frozenset(flags), {k: tuple(v) for k, v in values.items()}, tuple(positionals), dashdash,
        invalid,
    )
