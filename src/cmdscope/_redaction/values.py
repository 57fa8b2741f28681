"""Reading the value after a rule's match, and telling values from references and placeholders.

Regexes find where a secret starts (`NAME=`, `--password `, `curl -u `); this module reads what
follows in the syntax at hand (quoted, bare, the rest of a config line, a `user:pw` shell word,
an indented block) and rejects what only *refers* to a secret (`$VAR`, `${{ secrets.X }}`,
`{{ .Values.x }}`, `var.db_password`, `getpass()`) or stands in for one (`xxxx`, `<your-key>`,
`EXAMPLE`, `insert_key_here`).
"""

from __future__ import annotations

from cmdscope._redaction.rules import ARG

_BARE_STOP = frozenset(" \t\r\n\"'`;&|<>()")
_QUOTES = "\"'`"
_REF_MARKS = ("${", "$(", "{{", "{%", "<%", "#{", "%(", "[REDACTED:", "***", "$env:")
_PLACEHOLDER_WORDS = ("example", "placeholder", "your_", "your-", "yourkey", "yourtoken",
                      "yourpassword", "yoursecret", "insert", "_here", "-here", "replace_me",
                      "replaceme", "replace-me", "dummy", "redacted", "xxxx", "****", "<", "...",
                      "…", "fill_in", "fill-in", "todo", "${", "not_a_real", "not-a-real",
                      "notreal", "sample")
_KEYWORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cred")


def is_placeholder(value: str) -> bool:
    """`xxxx`, `XXXX-XXXX`, `********`, `<your-key>`, `EXAMPLE`, `insert_key_here`, `0000`."""
    low = value.lower()
    if any(w in low for w in _PLACEHOLDER_WORDS):
        return True
    core = low.strip("-_.:/ ")
    return len(core) >= 3 and len(set(core.replace("-", "").replace("_", ""))) <= 1


def _identifier(word: str) -> bool:
    return bool(word) and (word[0].isalpha() or word[0] == "_") and word.replace("_", "a").isalnum()


def is_reference(value: str, quoted: bool, single: bool = False) -> bool:
    """A value that names where a secret comes from: variables, templates, code. `single`: the
    value is in shell single quotes, where a `$` inside it is a literal character."""
    if value.startswith(("$", "%")) and len(value) > 1 and (value[1].isalpha() or value[1] in "_{(%"):
        return True
    if any(mark in value for mark in _REF_MARKS):
        return True
    i = -1 if single else value.find("$")
    while i >= 0:  # `"prefix-$TOKEN"`, `"$USER:$PASS"`
        if i + 1 < len(value) and (value[i + 1].isalpha() or value[i + 1] in "_{("):
            return True
        i = value.find("$", i + 1)
    if value[0] == "{" and value[-1] == "}" and _identifier(value[1:-1].strip() or "x"):
        return True  # str.format field: `password={password}`
    if value[0] == "<" and value[-1] == ">":
        return True
    if quoted:
        return False
    parts = value.split(".")
    if len(parts) > 1 and all(_identifier(p) for p in parts) and sum(c.isdigit() for c in value) <= 2:
        return True  # `var.db_password`, `settings.SECRET_KEY`, `process.env.TOKEN`
    low = value.lower()
    return _identifier(value) and "_" in value and any(k in low for k in _KEYWORDS)


def parse_value(text: str, pos: int, mode: int, colon: bool, rest_of_line: bool = False,
                dotenv: bool = False) -> tuple[int, int] | None:
    """The span of the value starting at `pos` (quotes excluded), or None if there is none.

    References and placeholders are not values; nor is a bare word followed by `(` or `[`
    (`password = getpass()` is code). After a `:` a bare value must hold a non-letter or be
    16+ characters, so prose like `error: invalid token: expected string` stays. With
    `rest_of_line` (YAML, INI, properties) a bare value runs to the end of the line; with
    `dotenv` (`NAME=` starting a line) too, unless the rest reads as a command (flags, operators,
    paths, variables). `Pa(ss)w0rd` is one value; `getpass()` is code.
    """
    n = len(text)
    if pos >= n:
        return None
    c = text[pos]
    if c in _QUOTES:
        close = text.find(c, pos + 1)
        newline = text.find("\n", pos + 1)
        if close <= pos + 1 or 0 <= newline < close:
            return None
        start, end = pos + 1, close
        quoted = True
    else:
        if mode == ARG and c in "-<>|&;":
            return None
        if c in "{[":
            return None  # a mapping or a list (`auth: { user: ... }`): its own keys are judged
        end = pos
        while end < n and text[end] not in _BARE_STOP:
            end += 1
            if end < n and text[end] == "(":
                close = text.find(")", end, text.find("\n", end) % (n + 1))
                glued = 0 < close + 1 < n and text[close + 1].isalnum()
                if close > end and (glued or not _code_like(text[pos:end])):
                    end = close + 1  # `Pa(ss)w0rd`: parentheses inside a value, not a call
        while end > pos + 1 and text[end - 1] in ",;":
            end -= 1  # `"token": null,`: the separator is not part of the value
        if end == pos or (end < n and text[end] in "([") or text[end - 1] == "[":
            return None  # code: a call or a subscript (`getpass()`, `os.environ["PW"]`)
        start = pos
        quoted = False
        line_start = text.rfind("\n", 0, pos) + 1
        if dotenv and not rest_of_line and end < n and text[end] in " \t":
            line_end = text.find("\n", end)
            tail = text[end:n if line_end < 0 else line_end]
            rest_of_line = not any(c in tail for c in "|&;<>$/\\=`") and not any(
                w.startswith("-") for w in tail.split()) and len(tail.split()) <= 4
        if (rest_of_line and end < n and text[end] in " \t(" and "{" not in text[line_start:pos]
                and not is_reference(text[start:end], False)):
            line_end = text.find("\n", end)
            line_end = n if line_end < 0 else line_end
            tail = text[end:line_end]
            for stop in (" #", " //", " && ", " || ", " | ", "; "):
                cut = tail.find(stop)
                if cut >= 0:
                    tail = tail[:cut]
            tail = tail.rstrip(" \t\r,;")
            if tail.strip():
                end += len(tail)
    value = text[start:end]
    if not value or is_reference(value, quoted, c == "'") or is_placeholder(value):
        return None
    if colon and not quoted and value.isalpha() and len(value) < 16:
        return None
    return start, end


def _code_like(word: str) -> bool:
    """An identifier or a dotted path (`getpass`, `os.getenv`): followed by `(` it is a call."""
    return all(_identifier(p) for p in word.split("."))


def read_userpass(text: str, pos: int) -> tuple[int, int] | None:
    """`user:pw` as one shell word in any quoting (`'u:p'`, `"u":'p'`, `u:"p w"`, `--user=u:p`):
    the span after the first `:` (closing quotes kept out); None for `$USER:$PASS`, `user:`."""
    n = len(text)
    i = pos
    colon = -1
    quote = ""
    single = False
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == ":" and colon < 0:
                colon = i
        elif c in "\"'":
            quote = c
        elif c in " \t\n;&|":
            break
        elif c == "\\" and i + 1 < n and text[i + 1] == "\n":
            break
        elif c == ":" and colon < 0:
            colon = i
        if colon == i:
            single = quote == "'"
        i += 1
    if colon < 0:
        return None
    start, end = colon + 1, i
    while end > start and text[end - 1] in "\"'":
        end -= 1
    while start < end and text[start] in "\"'":
        start += 1
    value = text[start:end]
    if not value or value.startswith("//") or is_reference(value, True, single) or is_placeholder(value):
        return None  # `//host` after `:` is a URL, not a password
    return start, end


def read_block(text: str, pos: int) -> list[tuple[int, int]]:
    """Every `key: value` value of the indented block after `pos` (a Secret's `data:`)."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    line_start = text.find("\n", pos)
    indent = -1
    while 0 <= line_start < n:
        line_start += 1
        line_end = text.find("\n", line_start)
        line_end = n if line_end < 0 else line_end
        line = text[line_start:line_end]
        stripped = line.lstrip(" ")
        width = len(line) - len(stripped)
        if not stripped.strip():
            line_start = line_end if line_end < n else -1
            continue
        if width == 0 or (indent >= 0 and width < indent):
            break
        indent = width if indent < 0 else indent
        key, sep, value = stripped.partition(":")
        if sep and value.strip() and " " not in key.strip():
            vstart = line_start + width + len(key) + 1
            vstart += len(value) - len(value.lstrip())
            vend = line_start + len(line.rstrip())
            if text[vstart] in "\"'" and vend - vstart >= 2 and text[vend - 1] == text[vstart]:
                vstart, vend = vstart + 1, vend - 1
            value_text = text[vstart:vend]
            if value_text and value_text not in ("|", ">", "|-", ">-") and not is_reference(value_text, True):
                spans.append((vstart, vend))
        line_start = line_end if line_end < n else -1
    return spans


_PUBLIC_BEGIN = ("-----begin pgp public key block-----", "-----begin public key-----",
                 "-----begin rsa public key-----", "-----begin certificate-----",
                 "-----begin pgp signature-----", "-----begin pgp message-----",
                 "-----begin ssh2 public key-----", "-----begin certificate request-----",
                 "-----begin x509 crl-----", "-----begin signed message-----")


def public_ranges(low: str) -> list[tuple[int, int]]:
    """Spans of PEM/PGP blocks that hold public material (keys, certificates, signatures)."""
    ranges = []
    for begin in _PUBLIC_BEGIN:
        i = low.find(begin)
        while i >= 0:
            end = low.find("-----end", i + len(begin))
            stop = low.find("-----", end + 8) + 5 if end >= 0 else len(low)
            ranges.append((i, stop if stop >= 5 else len(low)))
            i = low.find(begin, stop)
    return ranges
