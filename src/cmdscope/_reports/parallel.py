"""One ledger pass folded over contiguous groups of segments in worker processes, merged in order.

    acc = fold(path, make, feed, stats=stats, progress=progress, since_ns=..., **read_options)

``make(head)`` builds an accumulator (``head``: it sees the ledger from its first chosen segment,
so it knows every streak open before it; the others do not and keep what the merge needs to close
the earlier ones). ``feed(acc, records, stats)`` is the report's own loop over the records of a
group. Each accumulator has ``merge(later)``: ``earlier.merge(later)`` folds in the state of the
group that follows it. The parent reads the first group itself and forks one worker per other
group; the workers' accumulators come back pickled through a pipe and are merged oldest first, so
the result is the serial one (reservoir samples beyond their size aside, docs/reports.md).

Serial, exactly the one-process path, when: one usable CPU, the chosen segments hold less than
``MIN_PARALLEL_BYTES`` (forking and pickling cost more than they save), fewer than two segments,
no ``fork`` (not Linux/macOS), ``CMDSCOPE_REPORT_JOBS=1``, or (``auto``) the 1-minute load
average is at least the usable CPUs less 0.5: with no idle core a worker only shares one with
the parent, and the two together spend ~40-75% more CPU than one process (measured, docs/reports.md). ``CMDSCOPE_REPORT_JOBS=N`` uses N
processes whatever the size (tests use it on small ledgers). Segments wholly outside
``--since/--until`` are dropped before the split (and counted as skipped, as a serial read does).
Bad lines noted by the workers are merged into the parent's ``ReadStats`` in segment order, so
stderr says the same as serially. A worker that dies or raises: one line on stderr, and its
segments are read again in the parent.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cmdscope._ledger_reader import (
    MAX_BAD_KEPT,
    Progress,
    ReadStats,
    _outside,
    read_records,
    segments,
)

MIN_PARALLEL_BYTES = 64 << 20  # measured: below ~one segment the fork and merge cost more than a core saves


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average
        return 0.0


def jobs_for(total_bytes: int, n_segments: int) -> int:
    """How many processes read ``n_segments`` segments of ``total_bytes``."""
    import multiprocessing

    from cmdscope import _settings as settings

    if n_segments < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    value = settings.current()["CMDSCOPE_REPORT_JOBS"]
    if value is None:
        if total_bytes < MIN_PARALLEL_BYTES:
            return 1
        if threading.active_count() > 1:  # a host's threads: fork could copy a lock another one holds
            return 1
        value = usable_cpus()
        if _load() >= value - 0.5:  # no idle core: a worker would only share one with the parent
            return 1
    return max(1, min(value, n_segments))


# A worker spends more per record than the parent (its tails buffer what the merge resolves, and
# its first writes copy the pages it shares with the parent): measured ~1.25x on `report html`,
# so the parent's group is that much larger and both finish together.
HEAD_WEIGHT = 1.25


def split(files: list[Path], sizes: list[int], jobs: int, head: float = 1.0) -> list[list[Path]]:
    """``jobs`` contiguous, non-empty groups, oldest first, of about equal bytes but the first,
    which is ``head`` times the others."""
    total = sum(sizes) or 1
    groups: list[list[Path]] = [[]]
    done = 0
    for i, (f, size) in enumerate(zip(files, sizes)):
        left = len(files) - i  # files not yet placed, this one included
        need = jobs - len(groups)  # groups still to open after the current one
        share = (head + len(groups) - 1) / (head + jobs - 1)  # of the bytes, up to the current group's end
        if groups[-1] and need and (done + size / 2 > total * share or left <= need):
            groups.append([])
        groups[-1].append(f)
        done += size
    return groups


def _chosen(path: Path, since_ns: int | None, until_ns: int | None, stats: ReadStats) -> tuple[list[Path], list[int]]:
    """The segments that may hold records of the window, and their sizes; the others counted skipped."""
    import orjson

    lo = since_ns if since_ns is not None else -1
    hi = until_ns if until_ns is not None else 1 << 126
    files, sizes = [], []
    for seg in segments(path):
        size = 0
        try:
            with open(seg, "rb", buffering=0) as fh:
                size = os.fstat(fh.fileno()).st_size
                if (lo > 0 or hi < 1 << 126) and _outside(fh, size, lo, hi, orjson.loads):
                    stats.skipped_segments += 1
                    continue
        except OSError:
            pass  # the reader notes it
        files.append(seg)
        sizes.append(size)
    return files, sizes


class _Shared:
    """A worker's progress: its record count in a shared slot, drawn by the parent."""

    def __init__(self, slots: Any, index: int) -> None:
        self.slots, self.index = slots, index

    def start(self, segments: int) -> None:
        pass

    def update(self, segment: int, records: int, force: bool = False) -> None:
        self.slots[self.index] = records

    def done(self) -> None:
        pass


class _Combined:
    """The parent's progress line: its own records plus the workers'."""

    def __init__(self, progress: Progress, slots: Any, total: int) -> None:
        self.progress, self.slots, self.total = progress, slots, total

    def start(self, segments: int) -> None:
        self.progress.start(self.total)

    def update(self, segment: int, records: int, force: bool = False) -> None:
        self.progress.update(segment, records + sum(self.slots), force)

    def done(self) -> None:
        pass  # the caller ends the line


def merge_stats(into: ReadStats, other: tuple[int, list[Any], int, int, int, int]) -> None:
    """A later group's read stats after ``into``'s: the first MAX_BAD_KEPT bad lines in segment order."""
    records, bad, bad_lines, size, segs, skipped = other
    into.records += records
    into.bad.extend(bad[:MAX_BAD_KEPT - len(into.bad)] if len(into.bad) < MAX_BAD_KEPT else ())
    into.bad_lines += bad_lines
    into.bytes += size
    into.segments += segs
    into.skipped_segments += skipped


def _summary(stats: ReadStats) -> tuple[int, list[Any], int, int, int, int]:
    return stats.records, stats.bad, stats.bad_lines, stats.bytes, stats.segments, stats.skipped_segments


Feed = Callable[[Any, Iterator[dict[str, Any]], ReadStats], None]

last_jobs = 1  # processes the last fold() used (the benchmark prints it)


def fold(path: Path, make: Callable[[bool], Any], feed: Feed, *, stats: ReadStats,
         progress: Progress | None = None, since_ns: int | None = None, until_ns: int | None = None,
         **options: Any) -> Any:
    """The merged accumulator of one pass over the ledger at ``path`` (see the module's doc)."""
    global last_jobs
    last_jobs = 1
    window: dict[str, Any] = {"since_ns": since_ns, "until_ns": until_ns}
    from cmdscope import _settings as settings

    setting = settings.current()["CMDSCOPE_REPORT_JOBS"]
    probe = ReadStats()
    files: list[Path] = []
    sizes: list[int] = []
    if setting != 1 and (setting is not None or usable_cpus() > 1):  # else not even a look at the segments
        try:
            files, sizes = _chosen(path, since_ns, until_ns, probe)
        except OSError:
            pass
    jobs = jobs_for(sum(sizes), len(files))
    if jobs <= 1:
        acc = make(True)
        feed(acc, read_records(path, stats=stats, progress=progress, **window, **options), stats)
        return acc
    import multiprocessing

    last_jobs = jobs
    stats.skipped_segments += probe.skipped_segments
    groups = split(files, sizes, jobs, HEAD_WEIGHT)
    ctx = multiprocessing.get_context("fork")
    slots = ctx.RawArray("q", len(groups))
    sys.stdout.flush()
    sys.stderr.flush()
    workers = []
    for index, group in enumerate(groups[1:], 1):
        receive, send = os.pipe()  # before the next fork, so only this worker holds its writing end
        shared = _Shared(slots, index) if progress is not None and progress.enabled else None
        proc = ctx.Process(target=_work, args=(send, path, group, make, feed, shared, window, options), daemon=True)
        proc.start()
        os.close(send)
        workers.append((proc, receive, group))
    shown: Any = _Combined(progress, slots, len(files)) if progress is not None and progress.enabled else progress
    import gc

    # Unpickling a worker's accumulator makes a container per streak key; the cyclic collector
    # would walk them (and the parent's own) again and again: measured, the parallel page took
    # 10.6 s with it and 6.4 s without (one process: 9.2 s either way). Nothing here makes cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parallel(path, make, feed, stats, shown, groups, workers, window, options)
    finally:
        if collecting:
            gc.enable()


def _parallel(path: Path, make: Callable[[bool], Any], feed: Feed, stats: ReadStats, shown: Any,
              groups: list[list[Path]], workers: list[Any], window: dict[str, Any], options: dict[str, Any]) -> Any:
    """The parent's part: its own group, then each worker's accumulator merged in order."""
    acc = make(True)
    feed(acc, read_records(path, files=groups[0], stats=stats, progress=shown, **window, **options), stats)
    for proc, receive, group in workers:
        # Unpickled as it streams in: the whole payload is never held as bytes (3M records: ~20 MB).
        with open(receive, "rb", buffering=1 << 16) as source:
            try:
                status, later, summary = pickle.load(source)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
                status, later, summary = "error", f"no result ({type(exc).__name__})", None
        proc.join()
        if status != "ok":
            sys.stderr.write(f"cmdscope: a report worker failed on {group[0].name}..{group[-1].name} "
                             f"({later}); reading those segments in this process\n")
            mine = ReadStats()
            later = make(False)
            feed(later, read_records(path, files=group, stats=mine, **window, **options), mine)
            summary = _summary(mine)
        acc.merge(later)
        merge_stats(stats, summary)
    return acc


def _work(send: int, path: Path, group: list[Path], make: Callable[[bool], Any], feed: Feed, shared: Any,
          window: dict[str, Any], options: dict[str, Any]) -> None:
    """A worker: fold its group, write (status, accumulator or error text, read stats) to the
    pipe ``send`` as it is pickled (a pickling that fails half-way: the parent reads the group)."""
    import gc

    # A worker's accumulator holds a tuple or dict per streak key it has seen (the cyclic
    # collector would walk them again and again: ~1.4x the CPU of the pass); it lives one pass.
    gc.disable()
    with open(send, "wb", buffering=1 << 16) as out:
        try:
            mine = ReadStats()
            acc = make(False)
            feed(acc, read_records(path, files=group, stats=mine, progress=shared, **window, **options), mine)
            result: tuple[Any, ...] = ("ok", acc, _summary(mine))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which reads the group again
            result = ("error", f"{type(exc).__name__}: {exc}", None)
        pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
