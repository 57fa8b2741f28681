"""argv-aware redaction: flags whose secret is the next (or the attached) argument.

Text rules see `--password=pw` inside one argument; only the argument list shows that in
`sshpass -p pw` or `redis-cli -a pw` the *next* element is the secret. Which short flag
carries a password depends on the tool (`-p` is a port for redis-cli and psql, a prompt for
mysql when detached), so short flags are looked up per executable.
"""

from __future__ import annotations

from collections.abc import Callable

from cmdscope._redaction.engine import MARK_PREFIX
from cmdscope._redaction.rules import is_key_material

NEXT = 1  # `-a pw`
ATTACHED = 2  # `-ppw` (mysql: a detached `-p pw` prompts and `pw` is the database)
NEXT_OR_ATTACHED = 3
USERPASS = 4  # `-u user:pw` / `-uuser:pw`: the part after the first `:`
PERCENT = 5  # smbclient `-U user%pw`

_Flags = dict[str, tuple[int, str]]

_TOOL_FLAGS: dict[str, _Flags] = {
    "mysql": {"-p": (ATTACHED, "mysql-password-flag")},
    "redis-cli": {"-a": (NEXT_OR_ATTACHED, "redis-password-flag"),
                  "--pass": (NEXT, "redis-password-flag")},
    "curl": {flag: (USERPASS, "curl-user-password")
             for flag in ("-u", "--user", "-U", "--proxy-user")},
    "sshpass": {"-p": (NEXT_OR_ATTACHED, "sshpass-password")},
    "mongo": {"-p": (NEXT, "mongo-password-flag")},
    "ldap": {"-w": (NEXT_OR_ATTACHED, "ldap-password-flag")},
    "zip": {"-P": (NEXT, "archive-password-flag")},
    "7z": {"-p": (ATTACHED, "archive-password-flag")},
    "sqlcmd": {"-P": (NEXT_OR_ATTACHED, "sqlcmd-password-flag")},
    "smbclient": {"-U": (PERCENT, "smbclient-password"), "--user": (PERCENT, "smbclient-password")},
}
_ALIASES = {"unzip": "zip", "zipcloak": "zip", "7za": "7z", "bcp": "sqlcmd"}
# Flags that carry a secret only after a subcommand word: `-p` is a password after `login`
# (`docker run -p 8080:80` publishes a port); `--body` is the value in `gh secret set`.
_CONTEXT_FLAGS: dict[str, tuple[frozenset[str], _Flags]] = {
    "login": (
        frozenset({"docker", "podman", "nerdctl", "buildah", "skopeo", "helm", "oras", "crane",
                   "az"}),
        {"-p": (NEXT, "login-password-flag")},
    ),
    "secret": (
        frozenset({"gh"}),
        {"--body": (NEXT, "gh-secret-body"), "-b": (NEXT_OR_ATTACHED, "gh-secret-body")},
    ),
}
_CONTEXT_TOOLS = frozenset().union(*(tools for tools, _ in _CONTEXT_FLAGS.values()))

# Long flags (any tool) whose value is a secret: `--password pw`, `--db-password pw`.
_SECRET_FLAG_WORDS = (
    "password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "apikey", "api-key",
    "access-key", "accesskey", "secret-key", "secretkey", "account-key", "accountkey",
    "private-key", "privatekey", "client-secret", "auth-token", "storepass", "keypass",
    "srcstorepass", "deststorepass", "srckeypass", "destkeypass", "credential", "credentials",
)
_SECRET_FLAG_SUFFIXES = tuple("-" + w for w in _SECRET_FLAG_WORDS)
_SECRET_FLAG_SET = frozenset(_SECRET_FLAG_WORDS)
_NOT_LITERAL_PREFIXES = ("$", "[REDACTED:", "{{", "***", "<")


def _tool_key(arg: str) -> str | None:
    base = arg.rsplit("/", 1)[-1]
    if base in _TOOL_FLAGS or base in _CONTEXT_TOOLS or base == "htpasswd":
        return base
    if base in _ALIASES:
        return _ALIASES[base]
    if base.startswith(("mysql", "mariadb")) and base.isidentifier():
        return "mysql"
    if base.startswith("ldap") and base.isalpha():
        return "ldap"
    if base.startswith("mongo") and base.isalpha():
        return "mongo"
    return None


def is_secret_flag(arg: str) -> bool:
    """`--password`, `-token`, `--db-password` (not `--no-password`, `--password-stdin`)."""
    if len(arg) < 3 or arg[0] != "-" or "=" in arg:
        return False
    name = arg.lstrip("-").lower()
    if name.startswith("no-"):
        return False
    return name in _SECRET_FLAG_SET or name.endswith(_SECRET_FLAG_SUFFIXES)


def _literal(value: str) -> bool:
    return bool(value) and not value.startswith(_NOT_LITERAL_PREFIXES)


def _mark(name: str) -> str:
    return f"{MARK_PREFIX}{name}]"


def _mask_value(value: str, mode: int, name: str) -> str | None:
    """The masked form of a flag's value, or None when there is nothing to mask."""
    if mode == USERPASS or mode == PERCENT:
        sep = ":" if mode == USERPASS else "%"
        user, found, secret = value.partition(sep)
        if not found or not _literal(secret):
            return None
        return f"{user}{sep}{_mark(name)}"
    if not _literal(value):
        return None
    return _mark(name)


def redact_argv(argv: list[str], redact_text: Callable[[str], str]) -> list[str]:
    out = [redact_text(arg) for arg in argv]
    tool: str | None = None
    context: _Flags | None = None
    htpasswd_batch = False
    positionals = 0
    n = len(argv)
    i = 0
    while i < n:
        arg = argv[i]
        key = _tool_key(arg)
        if key is not None:
            tool, context, htpasswd_batch, positionals = key, None, False, 0
            i += 1
            continue
        ctx = _CONTEXT_FLAGS.get(arg)
        if ctx is not None and tool in ctx[0]:
            context = ctx[1]
        if tool == "htpasswd" and arg.startswith("-") and len(arg) > 1:
            htpasswd_batch = htpasswd_batch or "b" in arg[1:]
        elif tool == "htpasswd" and not arg.startswith("-"):
            positionals += 1
            if htpasswd_batch and positionals == 3 and _literal(arg):  # file user PASSWORD
                out[i] = _mark("htpasswd-password")
        if arg.startswith("-") and len(arg) > 1:
            flags = context if context is not None else _TOOL_FLAGS.get(tool or "", {})
            skip = _redact_flag(argv, out, i, flags)
            i += 1 + skip
            continue
        i += 1
    return out


def _redact_flag(argv: list[str], out: list[str], i: int, flags: _Flags) -> int:
    """Mask the value belonging to the flag at `i`; return how many extra args it consumed."""
    arg = argv[i]
    has_next = i + 1 < len(argv)
    for flag, (mode, name) in flags.items():
        if arg == flag:
            if mode == ATTACHED or not has_next:
                return 0
            masked = _mask_value(argv[i + 1], mode, name)
            if masked is not None:
                out[i + 1] = masked
                return 1
            return 0
        if arg.startswith(flag) and mode != NEXT:
            value = arg[len(flag):]
            prefix = flag
            if flag.startswith("--"):
                if not value.startswith("="):
                    continue
                prefix, value = flag + "=", value[1:]
            masked = _mask_value(value, mode, name)
            if masked is not None:
                out[i] = prefix + masked
            return 0
    if has_next and is_secret_flag(arg):
        value = argv[i + 1]
        if not value.startswith("-") and _literal(value) and is_key_material(value):
            out[i + 1] = _mark("password-flag")
            return 1
    return 0
