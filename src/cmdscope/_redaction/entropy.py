"""The generic rule: a long random-looking token is a secret even without a known prefix.

Random tokens (base62/base64 keys) differ from the long strings commands are full of (paths,
identifiers, hashes, UUIDs, base64 of ordinary text) in measurable ways, so each candidate
passes a chain of cheap guards before it is masked:

- at least 24 characters, with both letters and digits;
- not hexadecimal once `-`/`_` are removed (git SHAs, digests, UUIDs: identifiers, not keys);
- not a Subresource-Integrity or checksum value (`sha512-...`, `h1:...`, `sha256:...`);
- Shannon entropy of at least 3.5 bits per character;
- character classes switch often: in random text about 6 in 10 neighbouring characters differ
  in class (lower/upper/digit); in paths, words and CamelCase names it is 1-3 in 10;
- if it decodes as base64 to printable text, the decoded text decides (ordinary text is kept,
  text that itself holds a secret is masked).
"""

from __future__ import annotations

import math
from collections.abc import Callable

MIN_LENGTH = 24
MIN_ENTROPY = 3.5
MIN_SWITCH_RATE = 0.35
# Lowercase+digit tokens (no capitals) look more like slugs, so they must be longer and denser.
MIN_LENGTH_ONE_CASE = 32
MIN_SWITCH_RATE_ONE_CASE = 0.3

CANDIDATE = r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}(?![A-Za-z0-9+/=_-])"

_HEX = frozenset("0123456789abcdefABCDEF")
_CHECKSUM_CONTEXT = ("sha1-", "sha256-", "sha384-", "sha512-", "md5-", "h1:", "sha1:",
                     "sha256:", "sha384:", "sha512:", "md5:", "blake2b:", "sha512:", "sha1=",
                     "sha256=")


def shannon_entropy(token: str) -> float:
    counts: dict[str, int] = {}
    for ch in token:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def switch_rate(token: str) -> float:
    """Share of neighbouring letter/digit pairs that change class (lower, upper, digit)."""
    prev = 0
    switches = pairs = 0
    for ch in token:
        if ch.islower():
            cls = 1
        elif ch.isupper():
            cls = 2
        elif ch.isdigit():
            cls = 3
        else:
            continue  # separators do not count: `a/b`, `a-b` are not switches
        if prev:
            pairs += 1
            switches += cls != prev
        prev = cls
    return switches / pairs if pairs else 0.0


def _decoded_text(token: str) -> str | None:
    """The token's base64 decoding when that is printable text, else None."""
    import binascii

    body = token.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        return None
    try:
        raw = binascii.a2b_base64(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    if not raw:
        return None
    printable = sum(1 for b in raw if 32 <= b < 127 or b in (9, 10, 13))
    if printable < 0.95 * len(raw):
        return None
    return raw.decode("ascii", "replace")


def _wordlike(segment: str) -> bool:
    """A path segment that reads as a name, a number or an id: `api`, `v1`, `2024`, a UUID."""
    if not segment:
        return True
    core = segment.replace("-", "").replace("_", "")
    return (
        len(segment) <= 3
        or core.isdigit()
        or all(c in _HEX for c in core)
        or (segment.isalpha() and (segment.islower() or segment[1:].islower()))
    )


def candidate_parts(token: str, offset: int) -> list[tuple[int, int]]:
    """The spans to judge: the whole token, or each segment when the token reads as a path.

    A token with `/` whose segments are mostly words, numbers or ids (`8080/api/v1/<uuid>`) is a
    path or URL, judged segment by segment (so a random segment such as a webhook token is still
    found); otherwise it is judged whole, so base64 keys containing `/` are not cut into pieces.
    """
    start = offset
    stripped = token.lstrip("/")
    start += len(token) - len(stripped)
    stripped = stripped.rstrip("/")
    if "/" not in stripped:
        return [(start, start + len(stripped))]
    segments = stripped.split("/")
    if sum(_wordlike(s) for s in segments) * 2 < len(segments) and not token.startswith("/"):
        return [(start, start + len(stripped))]
    parts = []
    pos = start
    for segment in segments:
        if len(segment) >= MIN_LENGTH:
            parts.append((pos, pos + len(segment)))
        pos += len(segment) + 1
    return parts


def looks_random(token: str, before: str, contains_secret: Callable[[str], bool]) -> bool:
    """Is this candidate a secret? `before` is the text just before it (checksum labels)."""
    core = token.rstrip("=")
    if len(core) < MIN_LENGTH:
        return False
    has_digit = has_upper = has_lower = False
    hexish = True
    for ch in core:
        if ch.isdigit():
            has_digit = True
        elif ch.isupper():
            has_upper = True
        elif ch.islower():
            has_lower = True
        if hexish and ch not in _HEX and ch not in "-_":
            hexish = False
    if hexish or not has_digit or not (has_upper or has_lower):
        return False
    low = core.lower()
    if before.lower().endswith(_CHECKSUM_CONTEXT) or low.startswith(_CHECKSUM_CONTEXT):
        return False
    if shannon_entropy(core) < MIN_ENTROPY:
        return False
    rate = switch_rate(core)
    if has_upper and has_lower:
        if rate < MIN_SWITCH_RATE:
            return False
    elif len(core) < MIN_LENGTH_ONE_CASE or rate < MIN_SWITCH_RATE_ONE_CASE:
        return False
    decoded = _decoded_text(token)
    if decoded is not None:
        return contains_secret(decoded)
    return True


# Path segments after which a random segment is a credential, not an id (`/hooks/<token>`).
_SECRET_SEGMENTS = frozenset({"token", "tokens", "key", "keys", "secret", "secrets", "webhook",
                              "webhooks", "hooks", "bot", "apikey", "api_key", "auth", "password",
                              "sig", "signature", "credentials", "invite", "reset"})
_SECRET_PARAM_WORDS = ("token", "key", "secret", "sig", "auth", "pass", "pwd", "code", "credential",
                       "session", "jwt", "hash")
_PUBLIC_PREFIXES = ("pk_live_", "pk_test_", "pk.eyJ", "AAAAB3NzaC1", "AAAAC3NzaC1", "AAAAE2VjZHNh",
                    "AAAAG3NrLXNzaC1", "npub1", "FLWPUBK", "sb_publishable_")
_PUBLIC_KEY_WORDS = ("ssh-", "ecdsa-", "sk-ssh", "sk-ecdsa")
_WORD_STOP = " \t\r\n\"'`(<>,;|="


def public_context(text: str, start: int, end: int) -> bool:
    """A random-looking token that is not a secret because of where it stands: a hashed asset
    name (`app.Kx9...Q2.js`), an id in a URL path, an SSH public key, a publishable key."""
    if text.startswith(_PUBLIC_PREFIXES, start):
        return True
    if end < len(text) and text[end] == "." and end + 1 < len(text) and text[end + 1].isalpha():
        ext_end = end + 1
        while ext_end < len(text) and text[ext_end].isalnum():
            ext_end += 1
        if ext_end - end - 1 <= 5 and (ext_end == len(text) or not text[ext_end].isalnum()):
            return True  # `name.<hash>.js`, `<hash>.css`
    word_start = start
    while word_start > 0 and text[word_start - 1] not in _WORD_STOP:
        word_start -= 1
    if word_start > 0 and text[word_start - 1] in "=:\"' ":
        names = text[max(0, word_start - 48):word_start].rstrip("=:\"' ").rsplit(None, 1)[-1:]
        if names and "publi" in names[0].lower():
            return True  # `public_key=...`, `NEXT_PUBLIC_...=`: published by design
    url_start = word_start
    while url_start > 0 and text[url_start - 1] not in " \t\r\n\"'`(<>":
        url_start -= 1
    url = text[url_start:start]
    if "://" in url:
        path, query, params = url.partition("?")
        if not query:  # an id in a URL path, unless a segment says what follows is a secret
            return not any(s.lower() in _SECRET_SEGMENTS for s in path.split("/"))
        param = params.rsplit("&", 1)[-1].split("=", 1)[0].lower()
        return not any(k in param for k in _SECRET_PARAM_WORDS)  # `?list=<id>`, not `?token=`
    if text.startswith("AAAA", start):
        before = text[max(0, start - 48):start].rstrip().rsplit(None, 1)
        if before and before[-1].lower().startswith(_PUBLIC_KEY_WORDS):
            return True
    return False


def _strong_part(part: str) -> bool:
    return len(part) >= 6 and any(c.isdigit() or c.isupper() for c in part)


def whole_token(text: str, start: int, end: int) -> tuple[int, int]:
    """Extend a random span over the other `.`-joined parts of its token (`id.ts.hmac`), so
    no segment of a multi-part token is left in clear."""
    n = len(text)
    while end + 1 < n and text[end] == ".":
        stop = end + 1
        while stop < n and (text[stop].isalnum() or text[stop] in "_-"):
            stop += 1
        if not _strong_part(text[end + 1:stop]):
            break
        end = stop
    while start > 1 and text[start - 1] == ".":
        begin = start - 1
        while begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] in "_-"):
            begin -= 1
        if not _strong_part(text[begin:start - 1]):
            break
        start = begin
    return start, end
