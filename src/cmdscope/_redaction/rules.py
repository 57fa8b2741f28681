"""The shape of a redaction rule and the named value guards rule files can refer to.

The rules themselves are data: ``registry/redaction/*.yaml`` (see :mod:`cmdscope._redaction.ruleset`).
A rule row holds a marker name, the lowercase keywords that must occur in the text before its
regex is worth running (the prefilter), the regex source, flags, an optional value guard and a
value mode. Regexes are compiled lazily by the engine, so importing this module costs no ``re``.

Where a rule has groups named ``s``, ``s_2``, ``s_3`` only the first that matched is masked (the
secret part: ``PASSWORD=<here>``); otherwise the whole match is masked.
"""

from __future__ import annotations

from collections import namedtuple

# re flag values, spelled as ints so this module does not import re (saves ~10 ms cold).
# I: case-insensitive. The engine runs such rules, written in lowercase, case-sensitively on
# the lowered text, which compiles several times faster than re.IGNORECASE.
I = 2  # re.IGNORECASE
S = 16  # re.DOTALL

# Value modes: where a regex only finds the *prefix* (`NAME=`, `sshpass -p`), a small parser
# reads the value after it (quoted or bare). Keeping values out of the regexes keeps them
# cheap to compile on the first call of a fresh process.
WHOLE = 0
ARG = 1  # an argument after a flag: quoted or bare, a bare one must not start with - < > | & ;
ATTACHED = 2  # glued to the flag (`-ppw`, `-p'pw'`): quoted or bare, no space before
ASSIGN = 3  # after `=` or `:`; after `:` a bare value must hold a non-letter or be 16+ long
USERPASS = 4  # a `user:password` shell word in any quoting: the part after the first `:`
BLOCK = 5  # the match heads an indented block (`data:` of a Kubernetes Secret): every value
VALUE_MODES = {"whole": WHOLE, "arg": ARG, "attached": ATTACHED, "assign": ASSIGN,
               "userpass": USERPASS, "block": BLOCK}


# keywords: lowercase substrings, () = run on every text; guard: (value, match) -> False means
# not a secret; value: WHOLE masks the match/group, else the match ends where a value starts.
# (A namedtuple, not typing.NamedTuple: typing costs ~4 ms per CLI process.)
# command: words one of which must name the simple command the match stands in (`curl`).
Rule = namedtuple("Rule", "name keywords pattern flags guard value command", defaults=(0, None, 0, ()))


# A value that refers to a secret instead of containing it: $VAR, ${VAR}, $(cmd), {{ tmpl }},
# %VAR%, <placeholder>, ***, or text that is already masked.
NOT_A_LITERAL = r"(?!\$|\[(?:REDACTED|redacted):|\{\{|%[A-Za-z_]|<[A-Za-z_ .-]*>|\*{3})"

# The rest of one simple command after the executable (stops at a list/pipe operator).
SAME_COMMAND = r"(?=\s)[^\n;&|]*?\s"

_BORING_VALUES = frozenset(
    {"true", "false", "null", "none", "nil", "yes", "no", "on", "off", "0", "1", "required",
     "optional", "undefined", "redacted", "stdin", "-"}
)
_PATH_PREFIXES = ("/", "./", "../", "~/", "file:")
_KEY_FILE_SUFFIXES = (".pem", ".key", ".json", ".p12", ".pfx", ".jks", ".crt", ".pub", ".txt",
                      ".gpg", ".asc", ".der", ".keystore")


def is_literal_secret(value: str, m: object = None) -> bool:
    """Reject values that say something about a secret but are not one (booleans, `none`)."""
    return value.lower() not in _BORING_VALUES


def is_key_material(value: str, m: object = None) -> bool:
    """For `*_KEY`, `--private-key` and credential *file* settings: a path is not the key."""
    low = value.lower()
    if low in _BORING_VALUES or low.startswith(_PATH_PREFIXES) or low.endswith(_KEY_FILE_SUFFIXES):
        return False
    return True


def is_weak_key_secret(value: str, m: object = None) -> bool:
    """`SORT_KEY=name`, `CACHE_KEY=deps-v1`: a `*_KEY` value counts only if it looks random."""
    if not is_key_material(value) or len(value) < 8:
        return False
    classes = (any(c.isdigit() for c in value) + any(c.islower() for c in value)
               + any(c.isupper() for c in value) + any(not c.isalnum() for c in value))
    return classes >= 3 or (classes == 2 and len(value) >= 16 and any(c.isdigit() for c in value))


# Names whose value is a secret. `auth` must end the name, so `author=` is left alone; `pwd`
# needs a separator before it so the shell's own `PWD=`/`OLDPWD=` are left alone.
_STRONG_NAME = (
    r"(?:password|passwd|passphrase|secret|token|auth|credentials?|"
    r"api[_.-]?key|access[_.-]?key|secret[_.-]?key|private[_.-]?key|account[_.-]?key|"
    r"master[_.-]?key|signing[_.-]?key|encryption[_.-]?key|client[_.-]?secret)"
)


def _g(m: object, name: str) -> str | None:
    """Group `name` of match `m`, None when it did not take part or the regex has no such group."""
    regex = getattr(m, "re", None)
    if regex is None or name not in regex.groupindex:
        return None
    return m.group(name)  # type: ignore[attr-defined, no-any-return]


def assignment_guard(value: str, m: object = None) -> bool:
    """Strong names (`*_PASSWORD`, `*_TOKEN`) take any literal; `*_KEY` only random-looking ones."""
    if _g(m, "weak") is not None:  # `*_KEY`: random-looking values, not a URL without credentials
        return is_weak_key_secret(value) and not (value.startswith(("http://", "https://")) and "@" not in value)
    if _g(m, "pw") is not None:
        return is_literal_secret(value)
    return is_key_material(value)


# `NAME=value` (shell, .env, INI, TOML) or `NAME: value` (YAML, JSON, stderr); the value is
# parsed after the match (ASSIGN). Not inside `${NAME:-default}`: a parameter expansion.
ASSIGNMENT = (
    r"(?<![a-z0-9_${-])[\"']?(?<![a-z0-9_.-])"
    rf"(?:(?P<strong>[a-z0-9_.-]*?{_STRONG_NAME})"
    r"|(?P<pw>(?:[a-z0-9_.-]*?[_.-])?pass|[a-z0-9_.-]*?[_.-]pwd)"
    r"|(?P<weak>[a-z0-9_.-]*?[_.-]key))"
    r"[\"']?[ \t]*(?P<sep>=|:)[ \t]*(?!=)"
)


# Words after a keyword that make the name describe the secret instead of holding it:
# `TOKEN_FILE`, `PASSWORD_MIN_LENGTH`, `SECRET_NAME`, `API_KEY_URL`.
_ABOUT_WORDS = frozenset(
    "file files path dir name names url uri endpoint host type length len min max expiry expires "
    "expiration ttl lifetime timeout arn ref env var vars variable policy prompt format header "
    "field location mode count size version provider store manager rotation kind prefix suffix "
    "regex pattern hint reset required enabled enable disabled cmd command helper source template "
    "scope scopes audience issuer algorithm alg server service region label description desc help "
    "usage limit budget strength encoding schema table column fingerprint hash digest sha "
    "number num index validity valid generator generate rule rules check checker".split()
)
_MID_KEYWORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "api_key",
                 "api-key", "api.key", "auth")


def mid_name_guard(value: str, m: object = None) -> bool:
    """`DB_PASSWORD_PROD=x`, `TF_TOKEN_app_terraform_io=x`: a keyword inside the name counts
    unless a word after it says the value is about the secret (`TOKEN_FILE`, `SECRET_NAME`)."""
    name = _g(m, "mid")
    if name is None:
        return assignment_guard(value, m)
    low = name.lower().strip("\"'`")
    cut = max(low.rfind(k) + len(k) for k in _MID_KEYWORDS if k in low) if any(
        k in low for k in _MID_KEYWORDS) else 0
    rest = [w for w in _split_words(low[cut:]) if w]
    if any(w in _ABOUT_WORDS for w in rest):
        return False
    return is_key_material(value) and not value.isdigit()


def _split_words(text: str) -> list[str]:
    for sep in ".-":
        text = text.replace(sep, "_")
    return text.split("_")


def prose_colon(m: object) -> bool:
    """`Unexpected token: '}'`, `io.jsonwebtoken:jjwt-api`: a `name:` that is prose or a Maven
    coordinate, not a YAML/JSON key (which is quoted, or starts its line, and has a space after)."""
    string = getattr(m, "string", "")
    if _g(m, "sep") != ":":
        return False
    start, end = m.span()  # type: ignore[attr-defined]
    if string[start:start + 1] in ("\"", "'") and string[:m.start("sep")].rstrip()[-1:] in ("\"", "'"):  # type: ignore[attr-defined]
        return False  # a quoted key: JSON, YAML
    sep_end = m.end("sep")  # type: ignore[attr-defined]
    if sep_end == m.start("sep") + 1 and (sep_end >= len(string) or string[sep_end] not in " \t"):  # type: ignore[attr-defined]
        return True  # `name:value`: not YAML
    line_start = string.rfind("\n", 0, start) + 1
    before = string[line_start:start].rstrip()
    # YAML keys start the line (after indentation, `- `, `export`, a `#` comment marker).
    return bool(before) and before[-1].isalnum() and not before.endswith(("export", "set", "env"))


def assignment_or_mid(value: str, m: object = None) -> bool:
    """The generic assignment guard: public names and prose are not secrets."""
    if _g(m, "public") is not None:
        return False
    if prose_colon(m):
        string = getattr(m, "string", "")
        sep_end = m.end("sep")  # type: ignore[attr-defined]
        if sep_end < len(string) and string[sep_end] not in " \t":
            return False  # `name:value` is no YAML: a Maven coordinate, `host:port`, a log field
        if " " in value or not (is_weak_key_secret(value) and len(value) >= 12):
            return False  # prose (`Unexpected token: '}'`) unless the value is one random word
    if _g(m, "mid") is not None:
        return mid_name_guard(value, m)
    return assignment_guard(value, m)


def k8s_secret_literal(value: str, m: object = None) -> bool:
    """`--from-literal=k=v` holds a secret only in `create secret` (not `create configmap`)."""
    string = getattr(m, "string", "")
    start = m.start() if m is not None else 0  # type: ignore[attr-defined]
    line = string[string.rfind("\n", 0, start) + 1:start].lower()
    return "secret" in line and is_literal_secret(value)


GUARDS = {
    "literal": is_literal_secret,
    "key-material": is_key_material,
    "weak-key": is_weak_key_secret,
    "assignment": assignment_or_mid,
    "mid-name": mid_name_guard,
    "k8s-secret-literal": k8s_secret_literal,
}
