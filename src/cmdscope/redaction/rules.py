"""The built-in redaction rules: one row per credential format.

A rule is data: a marker name, the lowercase keywords that must occur in the text before its
regex is worth running (the prefilter), the regex source, and an optional value guard. Regexes
are compiled lazily by the engine, so importing this module costs no ``re`` work at all.

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


# keywords: lowercase substrings, () = run on every text; guard: (value, match) -> False means
# not a secret; value: WHOLE masks the match/group, else the match ends where a value starts.
# (A namedtuple, not typing.NamedTuple: typing costs ~4 ms per CLI process.)
Rule = namedtuple("Rule", "name keywords pattern flags guard value", defaults=(0, None, 0))


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


def assignment_guard(value: str, m: object = None) -> bool:
    """Strong names (`*_PASSWORD`, `*_TOKEN`) take any literal; `*_KEY` only random-looking ones."""
    group = getattr(m, "group", None)
    if group is not None and group("weak") is not None:
        return is_weak_key_secret(value)
    if group is not None and group("pw") is not None:
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


BUILTIN_RULES: tuple[Rule, ...] = (
    # -- whole-token formats (most specific first: on a tie the earlier rule names the marker)
    Rule(
        "gcp-service-account-key",
        ('"private_key"',),
        r'"private_key"\s*:\s*"(?P<s>(?:[^"\\]|\\.)+)"',
    ),
    Rule(
        "private-key",
        ("-----begin",),
        r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:.*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
        S,
    ),
    Rule(
        "aws-access-key-id",
        ("akia", "asia", "abia", "acca", "a3t"),
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])",
    ),
    Rule(
        "aws-secret-access-key",
        ("secret_access_key", "secretaccesskey", "secret-access-key"),
        r"secret[_-]?access[_-]?key[\"']?(?:\s*[=:]\s*|\s+)[\"']?"
        r"(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        I,
    ),
    Rule("gcp-api-key", ("aiza",), r"AIza[0-9A-Za-z_-]{35}"),
    Rule("gcp-oauth-token", ("ya29.",), r"ya29\.[0-9A-Za-z_-]{20,}"),
    Rule(
        "azure-storage-key",
        ("accountkey", "sharedaccesskey", "sharedaccesssignature"),
        r"(?:accountkey|sharedaccesskey|sharedaccesssignature)=(?P<s>[^;\s\"']+)",
        I,
    ),
    Rule(
        "azure-storage-key",
        ("==",),
        # sha512 Subresource-Integrity values are also 88 base64 characters: not keys.
        r"(?<![A-Za-z0-9+/])(?<!sha512-)(?<!sha512:)[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])",
    ),
    Rule("azure-sas-signature", ("sig=",), r"[?&]sig=(?P<s>[A-Za-z0-9%+/=]{16,})", I),
    Rule(
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}",
    ),
    Rule("github-token", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{22,255}"),
    Rule(
        "gitlab-token",
        ("glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "glsoat-", "glft-"),
        r"gl(?:pat|ptt|dt|rt|cbt|soat|ft)-[A-Za-z0-9_-]{20,}",
    ),
    Rule("slack-token", ("xox",), r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"),
    Rule("slack-token", ("xapp-",), r"xapp-\d-[A-Za-z0-9-]{10,}"),
    Rule(
        "slack-webhook",
        ("hooks.slack.com",),
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/+-]+)",
    ),
    Rule(
        "stripe-key",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
        r"(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    ),
    Rule("stripe-webhook-secret", ("whsec_",), r"whsec_[A-Za-z0-9+/=]{20,}"),
    Rule("anthropic-api-key", ("sk-ant-",), r"sk-ant-[A-Za-z0-9_-]{20,}"),
    Rule(
        "openai-api-key",
        ("sk-",),
        # Needs a digit or capital so `sk-some-long-package-name` is left alone.
        r"(?<![A-Za-z0-9_-])sk-(?!ant-)(?=[A-Za-z0-9_-]*[0-9A-Z])[A-Za-z0-9_-]{20,}",
    ),
    Rule("npm-token", ("npm_",), r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    Rule("pypi-token", ("pypi-age",), r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    Rule("huggingface-token", ("hf_",), r"(?<![A-Za-z0-9_])hf_[A-Za-z]{34}(?![A-Za-z0-9])"),
    Rule(
        "jwt",
        ("eyj",),
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    ),
    # -- credentials in context
    Rule(
        "url-password",
        ("://",),
        rf"\b[a-z][a-z0-9+.-]*://[^\s:/@\"'<>]*:{NOT_A_LITERAL}(?P<s>[^\s@/\"'<>]+)@",
        I,
    ),
    Rule(
        "authorization-header",
        ("authorization",),
        r"\b(?:proxy-)?authorization[\"']?\s*[:=]\s*"
        # possessive: `Bearer $TOKEN` must not fall back to masking the word `Bearer`
        r"(?:(?:bearer|basic|token|digest|negotiate|apikey|bot|sso-key)\s+)?+"
        rf"{NOT_A_LITERAL}(?P<s>[^\s\"',;]+)",
        I,
    ),
    Rule(
        "bearer-token",
        ("bearer",),
        rf"\bbearer\s+{NOT_A_LITERAL}(?P<s>[A-Za-z0-9._~+/=-]{{8,}})",
        I,
    ),
    Rule(
        "api-key-header",
        ("api-key", "auth-token", "private-token", "job-token", "vault-token", "github-token",
         "subscription-key"),
        r"\b(?:x-api-key|api-key|x-goog-api-key|x-auth-token|private-token|job-token|"
        r"x-vault-token|x-github-token|ocp-apim-subscription-key)\s*:\s*"
        rf"{NOT_A_LITERAL}(?P<s>[^\s\"',;]+)",
        I,
    ),
    Rule("cookie-header", ("cookie",), r"\b(?:set-)?cookie\s*:\s*(?P<s>[^\n\"']+)", I),
    # -- command-line password flags of specific tools
    Rule(
        "mysql-password-flag",
        ("mysql", "mariadb"),
        rf"\b(?:mysql\w*|mariadb\w*){SAME_COMMAND}-p",
        value=ATTACHED,
    ),
    Rule(
        "redis-password-flag",
        ("redis-cli",),
        rf"\bredis-cli{SAME_COMMAND}-a\s*",
        value=ARG,
    ),
    Rule(
        "curl-user-password",
        ("curl",),
        rf"\bcurl{SAME_COMMAND}(?:-u|--user|-U|--proxy-user)(?:\s+|=)?"
        r"(?:'[^':\n]*:(?P<s>[^'\n]+)'|\"[^\":\n]*:(?P<s_2>[^\"\n]+)\""
        r"|(?!\[REDACTED:)[^\s:'\"]*:(?![$])(?P<s_3>[^\s'\"]+))",
    ),
    Rule("sshpass-password", ("sshpass",), rf"\bsshpass{SAME_COMMAND}-p\s*", value=ARG),
    Rule(
        "mongo-password-flag",
        ("mongo",),
        rf"\bmongo(?:sh|dump|restore|import|export|stat|top|files)?{SAME_COMMAND}-p\s+",
        value=ARG,
    ),
    Rule("ldap-password-flag", ("ldap",), rf"\bldap\w+{SAME_COMMAND}-w\s*", value=ARG),
    Rule(
        "login-password-flag",
        ("login",),
        r"\b(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane|az)\b[^\n;&|]*?\blogin\b"
        r"[^\n;&|]*?\s-p(?:\s+|=)",
        value=ARG,
    ),
    Rule(
        "archive-password-flag",
        ("zip",),
        rf"\b(?:zip|unzip|zipcloak){SAME_COMMAND}-P\s*",
        value=ARG,
    ),
    Rule("archive-password-flag", ("7z",), rf"\b7za?{SAME_COMMAND}-p", value=ATTACHED),
    Rule("sqlcmd-password-flag", ("sqlcmd", "bcp "), rf"\b(?:sqlcmd|bcp){SAME_COMMAND}-P\s*", value=ARG),
    Rule(
        "htpasswd-password",
        ("htpasswd",),
        rf"\bhtpasswd{SAME_COMMAND}-[A-Za-z]*b[A-Za-z]*\s+\S+\s+\S+\s+",
        value=ARG,
    ),
    Rule("smbclient-password", ("smbclient",), rf"\bsmbclient{SAME_COMMAND}-U\s*[^\s%]+%(?P<s>\S+)"),
    Rule(
        "gh-secret-body",
        ("secret set",),
        r"\bgh\s+secret\s+set\b[^\n;&|]*?\s(?:-b|--body)(?:\s*|=)",
        value=ARG,
    ),
    Rule("openssl-password", ("pass:",), r"(?<![A-Za-z0-9])pass:(?P<s>[^\s\"']+)"),
    # -- generic flags and assignments (last: specific rules name the marker on a tie)
    Rule(
        "password-flag",
        ("pass", "pwd", "secret", "token", "key", "credential"),
        r"(?<![\w-])--?(?!no-)(?:[a-z0-9]+-)*"
        r"(?:password|passwd|passphrase|pass|pwd|secret|token|api-?key|access-?key|secret-?key|"
        r"account-?key|private-?key|client-secret|auth-token|storepass|keypass|srcstorepass|"
        r"deststorepass|srckeypass|destkeypass|credentials?)"
        r"(?:\s+|=)",
        I,
        is_key_material,
        ARG,
    ),
    Rule(
        "secret-assignment",
        ("pass", "pwd", "secret", "token", "auth", "credential", "key"),
        ASSIGNMENT,
        I,
        assignment_guard,
        ASSIGN,
    ),
)
