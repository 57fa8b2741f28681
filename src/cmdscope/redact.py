"""Remove secrets from text before any sink sees it.

Every secret is replaced by a visible marker naming the rule that found it::

    >>> from cmdscope.redact import redact, redact_argv
    >>> redact("curl -H 'Authorization: Bearer abcdef0123456789' https://api.example.com")
    "curl -H 'Authorization: Bearer [REDACTED:authorization-header]' https://api.example.com"
    >>> redact("PGPASSWORD=hunter2 psql -h db")
    'PGPASSWORD=[REDACTED:secret-assignment] psql -h db'
    >>> redact("git push https://x:$GITHUB_TOKEN@github.com/o/r.git")  # a reference, kept
    'git push https://x:$GITHUB_TOKEN@github.com/o/r.git'
    >>> redact_argv(["redis-cli", "-a", "s3cret", "ping"])
    ['redis-cli', '-a', '[REDACTED:redis-password-flag]', 'ping']

Add rules with :func:`add_pattern` or a file named by ``CMDSCOPE_REDACT_PATTERNS`` (see
``docs/redaction.md``). Importing this module imports no regex machinery: rules compile on
first use, and a keyword prefilter keeps most text away from most regexes.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

from cmdscope._redaction.engine import (
    GENERIC_NAME,
    MARK_PATTERN,
    MARK_PREFIX,
    PATTERNS_ENV,
    RedactionConfigError,
    Redactor,
)

if TYPE_CHECKING:
    import re
    from typing import Any

    REDACTED_MARK_RE: re.Pattern[str]

__all__ = [
    "GENERIC_NAME",
    "MARK_PATTERN",
    "MARK_PREFIX",
    "PATTERNS_ENV",
    "REDACTED_MARK_RE",
    "RedactionConfigError",
    "Redactor",
    "add_pattern",
    "contains_secret",
    "generation",
    "redact",
    "redact_argv",
    "reset_patterns",
    "rule_names",
]

# The default instance reads CMDSCOPE_REDACT_PATTERNS on first use.
_default = Redactor(load_env=True)


def redact(text: str) -> str:
    """`text` with every secret replaced by ``[REDACTED:<rule>]``.

    Raises :class:`RedactionConfigError` only when ``CMDSCOPE_REDACT_PATTERNS`` names a bad file.
    """
    return _default.redact(text)


def redact_argv(argv: list[str]) -> list[str]:
    """Redact an argument vector, also masking secrets carried by the *next* argument
    (``--password pw``, ``sshpass -p pw``, ``redis-cli -a pw``, ``curl -u user:pw``)."""
    from cmdscope._redaction.argv import redact_argv as _redact_argv

    return _redact_argv(argv, _default.redact)


def contains_secret(text: str) -> bool:
    return _default.contains_secret(text)


def add_pattern(name: str, regex: str, *, keywords: tuple[str, ...] | list[str] = ()) -> None:
    """Add a rule to the default redactor (see :meth:`Redactor.add_pattern`)."""
    _default.add_pattern(name, regex, keywords=keywords)


def reset_patterns() -> None:
    """Remove every pattern added by :func:`add_pattern` or the environment file."""
    _default.reset_patterns()


def generation() -> int:
    """Changes whenever the default redactor's rules change (for callers' own memos)."""
    return _default.generation


def rule_names() -> list[str]:
    return _default.rule_names()


def __getattr__(name: str) -> Any:
    # Compiled on demand so that importing this module does not import `re`.
    if name == "REDACTED_MARK_RE":
        import re

        value = re.compile(MARK_PATTERN)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
