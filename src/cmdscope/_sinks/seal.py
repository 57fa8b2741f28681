"""Sealed ledger: a hash chain over every line, so edits, deletions, reorderings and insertions
are detected by ``cmdscope ledger verify`` and named by file and line.

Design (an improvement on a chain per writer): ``cmdscope run`` is one process per command, so
a chain per writer would be one record long and could not reveal that a whole record was
deleted. Instead the chain runs through the file: under an exclusive ``flock`` a writer reads the
tail of the ledger (the previous line ends with its own ``seal_seq`` and ``seal_hash``), then
appends its record with ``seal_seq = previous + 1``, ``seal_prev = previous hash`` and
``seal_hash = H(line without seal_hash)``. H is SHA-256, or HMAC-SHA-256 keyed by
``CMDSCOPE_SEAL_KEY`` so that someone who can write the file but lacks the key cannot forge a
consistent chain. The chain continues across rotated segments. Every ``ANCHOR_EVERY`` records the
head (seq, hash) is also appended to ``<ledger>.anchors``, which reveals a truncated tail up to
the last anchor (or ship the anchors off the host for more).

Once sealed, always sealed: stripping the seal fields from every line must not turn a sealed
ledger back into an "optional, unsealed" one. So the expectation lives in two more places that
an attacker who can write the ledger (and its directory) does not control: a seal-state file
under the user's config directory (``$XDG_CONFIG_HOME/cmdscope/seals/``, written on a ledger's
first sealed record, naming the key id), and the verifier's own settings (``CMDSCOPE_LEDGER_SEAL``
or ``CMDSCOPE_SEAL_KEY`` set). The anchors file counts as evidence too. When sealing starts on a
ledger that already holds unsealed lines, the first record's ``seal_prev`` is the hash of all
those bytes, so that history is bound into the chain as well. See docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from typing import Callable

ANCHOR_EVERY = 100
GENESIS = "0" * 64
_TAIL = re.compile(rb',"seal_seq":(\d+),"seal_prev":"([0-9a-f]{64})","seal_hash":"([0-9a-f]{64})"\}\n?$')
_READ_BACK = 512


def _seal_key() -> str | None:
    from cmdscope import _settings as settings

    return settings.get("CMDSCOPE_SEAL_KEY")  # type: ignore[no-any-return]


def _hasher() -> Callable[[bytes], str]:
    key = _seal_key()
    if key:
        secret = key.encode()
        return lambda data: hmac.new(secret, data, hashlib.sha256).hexdigest()
    return lambda data: hashlib.sha256(data).hexdigest()


def key_id() -> str:
    """Names the key without revealing it: ``sha256`` for an unkeyed chain, else 16 hex digits
    of an HMAC of a fixed label."""
    key = _seal_key()
    if not key:
        return "sha256"
    return "hmac:" + hmac.new(key.encode(), b"cmdscope-seal-key-id", hashlib.sha256).hexdigest()[:16]


def state_path(ledger_path: str) -> str:
    """Where the expectation "this ledger is sealed" is kept, outside the ledger's directory."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    name = hashlib.sha256(os.path.realpath(ledger_path).encode()).hexdigest()[:32]
    return os.path.join(base, "cmdscope", "seals", name + ".json")


def load_state(ledger_path: str) -> dict[str, str] | None:
    try:
        with open(state_path(ledger_path), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _record_state(ledger_path: str) -> None:
    """Write the seal state once per ledger (0600 in a 0700 directory); never raises."""
    path = state_path(ledger_path)
    if os.path.exists(path):
        return
    try:
        from cmdscope._private_files import make_private_dirs

        make_private_dirs(os.path.dirname(path))
        data = json.dumps({"ledger": os.path.realpath(ledger_path), "key_id": key_id()}) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # the anchors and the verifier's own settings still say "sealed"


def _prefix_digest(ledger_path: str, hasher: Callable[[bytes], str]) -> str:
    """The hash of every byte written before sealing started (GENESIS for an empty ledger)."""
    from cmdscope._sinks.ledger import segments

    h = hashlib.sha256()
    seen = False
    for seg in segments(ledger_path):
        try:
            with open(seg, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                    seen = True
        except OSError:
            continue
    return hasher(h.digest()) if seen else GENESIS


def _last_sealed(ledger_path: str) -> tuple[int, str] | None:
    """The chain's head found by scanning (rare: an unsealed line sits at the end)."""
    from cmdscope._sinks.ledger import segments

    head = None
    for seg in segments(ledger_path):
        try:
            with open(seg, "rb") as fh:
                for raw in fh:
                    m = _TAIL.search(raw)
                    if m is not None:
                        head = int(m.group(1)), m.group(3).decode()
        except OSError:
            continue
    return head


def _tail_of(fd: int) -> tuple[int, str] | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    chunk = os.pread(fd, min(_READ_BACK, size), max(0, size - _READ_BACK))
    m = _TAIL.search(chunk)
    if m is None:
        return None
    return int(m.group(1)), m.group(3).decode()


def _tail_of_path(path: str) -> tuple[int, str] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _tail_of(fd)
    finally:
        os.close(fd)


def _previous_segment_head(ledger_path: str) -> tuple[int, str] | None:
    from cmdscope._sinks.ledger import segments

    rotated = segments(ledger_path)
    rotated = [p for p in rotated if str(p) != ledger_path]
    return _tail_of_path(str(rotated[-1])) if rotated else None


def sealed_write(fd: int, ledger_path: str, payload: bytes) -> tuple[int, int]:
    """Append ``payload`` (one JSON object, no newline) sealed into the chain.

    Returns (bytes written, bytes intended). The caller holds the ledger's lock file (the same
    lock rotation takes) and has made sure ``fd`` is the current file, so the head it reads is
    the chain's head even while other processes write and rotate.
    """
    hasher = _hasher()
    head = _tail_of(fd) or _previous_segment_head(ledger_path)
    if head is None:
        # First sealed record, or an unsealed line ended the file: find the head by scanning;
        # with none, start the chain bound to whatever was there before.
        head = _last_sealed(ledger_path) or (0, _prefix_digest(ledger_path, hasher))
    seq = head[0] + 1
    body = payload[:-1] + f',"seal_seq":{seq},"seal_prev":"{head[1]}"'.encode()
    digest = hasher(body + b"}")
    line = body + f',"seal_hash":"{digest}"}}\n'.encode()
    written = os.write(fd, line)
    if seq == 1:
        _record_state(ledger_path)
    if seq % ANCHOR_EVERY == 0:
        _anchor(ledger_path, seq, digest)
    return written, len(line)


def _anchor(ledger_path: str, seq: int, digest: str) -> None:
    try:
        fd = os.open(ledger_path + ".anchors", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, f"{seq} {digest}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # anchors strengthen the chain; losing one never loses a record


def expected_sealed(ledger_path: str) -> str | None:
    """Why this ledger must be sealed throughout, or None when nothing says so."""
    if load_state(ledger_path) is not None:
        return f"seal state {state_path(ledger_path)}"
    if os.path.exists(ledger_path + ".anchors"):
        return f"anchors file {ledger_path}.anchors"
    from cmdscope import _settings as settings

    if settings.get("CMDSCOPE_LEDGER_SEAL"):
        return "CMDSCOPE_LEDGER_SEAL"
    if _seal_key():
        return "CMDSCOPE_SEAL_KEY"
    return None


def verify_chain(ledger_path: str) -> list[str]:
    """Problems found in a sealed ledger, each naming file and line; [] when intact.

    A ledger that nothing marks as sealed (no seal on any line, no seal state, no anchors, no
    sealing settings) yields no problems: sealing is optional. Once anything marks it sealed,
    every line of every segment must carry an unbroken seal.
    """
    from cmdscope._sinks.ledger import segments

    hasher = _hasher()
    problems: list[str] = []
    why = expected_sealed(ledger_path)
    state = load_state(ledger_path)
    if state is not None and state.get("key_id") not in (None, key_id()):
        problems.append(f"{ledger_path}: sealed with key {state.get('key_id')}, verifying with {key_id()} "
                        "(set the CMDSCOPE_SEAL_KEY it was sealed with)")
    expected_seq, expected_prev = 1, GENESIS
    sealed_seen = False
    # Lines before the first seal (the first 100 named), in case the ledger must be sealed.
    unsealed: list[str] = []
    unsealed_count = 0
    prefix = hashlib.sha256()
    # The anchors first: only the hashes of anchored records are kept while walking the chain
    # (one in 100 records), so memory does not grow with every line.
    anchors: list[tuple[int, int, str] | int] = []
    try:
        with open(ledger_path + ".anchors", encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                parts = line.split()
                anchors.append((number, int(parts[0]), parts[1]) if len(parts) == 2 and parts[0].isdigit() else number)
    except FileNotFoundError:
        pass
    anchored = {a[1] for a in anchors if isinstance(a, tuple)}
    last_hash_by_seq: dict[int, str] = {}
    for seg in segments(ledger_path):
        with open(seg, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                m = _TAIL.search(raw)
                where = f"{seg}:{number}"
                if m is None:
                    if sealed_seen or b'"seal_hash"' in raw:
                        problems.append(f"{where}: line is not sealed (inserted or damaged)")
                    else:
                        unsealed_count += 1
                        if len(unsealed) < 100:
                            unsealed.append(where)
                        prefix.update(raw)
                    continue
                if not sealed_seen and unsealed_count:
                    expected_prev = hasher(prefix.digest())
                sealed_seen = True
                seq, prev, digest = int(m.group(1)), m.group(2).decode(), m.group(3).decode()
                body = raw[: m.start()] + f',"seal_seq":{seq},"seal_prev":"{prev}"}}'.encode()
                if not hmac.compare_digest(hasher(body), digest):
                    problems.append(f"{where}: seal_hash does not match the line (edited)")
                if seq < expected_seq:
                    # A copy or a line moved back: report it and keep following the chain.
                    problems.append(f"{where}: seal_seq {seq}, expected {expected_seq}: out of order (reordered or duplicated)")
                    continue
                if seq > expected_seq:
                    problems.append(f"{where}: seal_seq {seq}, expected {expected_seq}: missing records (deleted)")
                elif prev != expected_prev:
                    problems.append(f"{where}: seal_prev does not match the previous line's hash (chain broken)")
                expected_seq, expected_prev = seq + 1, digest
                if seq in anchored:
                    last_hash_by_seq[seq] = digest
    if not sealed_seen:
        if why is None:
            return problems
        problems += [f"{where}: line is not sealed, but the ledger must be ({why})" for where in unsealed]
        if unsealed_count > 100:
            problems.append(f"{ledger_path}: ... and {unsealed_count - 100} more unsealed line(s)")
        if not unsealed_count:
            problems.append(f"{ledger_path}: no sealed record, but the ledger must be sealed ({why})")
    for anchor in anchors:
        if not isinstance(anchor, tuple):
            problems.append(f"{ledger_path}.anchors:{anchor}: malformed anchor")
            continue
        number, seq, digest = anchor
        if seq not in last_hash_by_seq:
            problems.append(f"{ledger_path}.anchors:{number}: anchored record {seq} is missing (tail truncated?)")
        elif last_hash_by_seq[seq] != digest:
            problems.append(f"{ledger_path}.anchors:{number}: anchored record {seq} differs from the ledger")
    return problems
