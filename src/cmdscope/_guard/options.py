"""Command-line option parsing by getopt rules: bundled short flags, long-option prefixes."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any



class ToolSpec:
    """How one tool (``rm``, ``git push``) parses its options; loaded from the registry's tools."""

    __slots__ = ("long", "value_short", "value_long", "aliases", "bundling", "options",
                 "payload_opts", "payload_positionals")

    def __init__(self, long: frozenset[str] = frozenset(), value_short: frozenset[str] = frozenset(),
                 value_long: frozenset[str] = frozenset(), aliases: dict[str, str] | None = None,
                 bundling: bool = True, options: bool = True,
                 payload_opts: frozenset[str] = frozenset(), payload_positionals: bool = False) -> None:
        self.long = long                    # known long options, for unambiguous-prefix resolution
        self.value_short = value_short      # short options that take a value (``-o val``)
        self.value_long = value_long        # long options that take a value (``--repo x``)
        self.aliases = aliases or {}        # ``-r`` -> ``--recursive``; ``-D`` -> ``--delete --force``
        self.bundling = bundling            # ``-rf`` is ``-r -f``
        self.options = options              # False: every argument is positional (dd, kill)
        self.payload_opts = payload_opts    # options whose value is code (``psql -c``)
        self.payload_positionals = payload_positionals  # positionals are code (``redis-cli FLUSHALL``)

    def to_data(self) -> dict[str, Any]:
        """Plain data for the guard's cache (:meth:`from_data` reads it back)."""
        return {"long": sorted(self.long), "value_short": sorted(self.value_short),
                "value_long": sorted(self.value_long), "aliases": dict(self.aliases),
                "bundling": self.bundling, "options": self.options,
                "payload_opts": sorted(self.payload_opts), "payload_positionals": self.payload_positionals}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ToolSpec:
        """TypeError or KeyError for data of another shape (a damaged cache: rebuilt)."""
        sets = {key: data[key] for key in ("long", "value_short", "value_long", "payload_opts")}
        aliases, flags = data["aliases"], (data["bundling"], data["options"], data["payload_positionals"])
        if (not all(type(v) is list and all(type(w) is str for w in v) for v in sets.values())
                or type(aliases) is not dict or not all(type(v) is str for v in aliases.values())
                or not all(type(f) is bool for f in flags)):
            raise TypeError("bad tool spec")
        return cls(long=frozenset(sets["long"]), value_short=frozenset(sets["value_short"]),
                   value_long=frozenset(sets["value_long"]), aliases=aliases, bundling=flags[0],
                   options=flags[1], payload_opts=frozenset(sets["payload_opts"]), payload_positionals=flags[2])

    def canonical(self, flag: str) -> str:
        return self.aliases.get(flag, flag)


DEFAULT_SPEC = ToolSpec()


class ParsedArgs:
    __slots__ = ("flags", "values", "positionals", "after_dashdash", "invalid")

    def __init__(self, flags: frozenset[str], values: dict[str, tuple[str, ...]],
                 positionals: tuple[str, ...], after_dashdash: int | None, invalid: bool) -> None:
        self.flags = flags
        self.values = values
        self.positionals = positionals
        self.after_dashdash = after_dashdash  # index into positionals where ``--`` was
        self.invalid = invalid                # an option the tool cannot parse: it does nothing


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
