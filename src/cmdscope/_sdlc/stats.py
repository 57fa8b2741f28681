"""The two significance tests of the reports: Mann-Kendall (a trend over a series) and
Mann-Whitney U (did one sample's values move against another's).

Mann-Kendall, exact for small untied samples (docs/packets.md says why):

S = sum over pairs i<j of sign(x_j - x_i). Under "no trend" every ordering is equally likely, so
without ties S = N - 2I where I (the inversions of a random permutation) follows the Mahonian
distribution, computed exactly by dynamic programming for n <= EXACT_MAX. With ties, or larger n,
the normal approximation with the tie-corrected variance and continuity correction is used.
Sen's slope (median of pairwise slopes) gives the size of the trend.

A report over months of packets has thousands of them: S is counted in O(n log n) with a
Fenwick tree over the values' ranks (the same number as the pairwise sum), and Sen's slope is
the median of every pairwise slope up to SLOPE_PAIRS pairs, beyond that of SLOPE_PAIRS pairs
drawn with a fixed seed (the same answer every run; within a fraction of a percent in rank).
Time and memory then stay near linear in the packets, as the reports promise.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import chain, groupby
from statistics import median
from typing import Sequence

EXACT_MAX = 60
SLOPE_PAIRS = 20_000


@dataclass
class Trend:
    test: str
    n: int
    s: int
    tau: float | None
    p_value: float | None
    method: str  # "exact", "normal" or "insufficient"
    sen_slope: float | None
    direction: str  # "increasing", "decreasing", "none"
    significant: bool
    alpha: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _s_statistic(xs: list[float]) -> int:
    """sum over i<j of sign(x_j - x_i), in O(n log n): for each x_j, the earlier values below it
    minus those above it, counted in a Fenwick tree indexed by rank (ties count neither)."""
    ranks = {v: r for r, v in enumerate(sorted(set(xs)), 1)}
    tree = [0] * (len(ranks) + 1)

    def below(r: int) -> int:  # earlier values with rank <= r
        total = 0
        while r > 0:
            total += tree[r]
            r -= r & -r
        return total

    s = 0
    for seen, x in enumerate(xs):
        r = ranks[x]
        s += below(r - 1) - (seen - below(r))
        while r < len(tree):
            tree[r] += 1
            r += r & -r
    return s


def _sen_slope(xs: list[float], ts: list[float]) -> float | None:
    n = len(xs)
    if n * (n - 1) // 2 <= SLOPE_PAIRS:
        slopes = [(xs[j] - xs[i]) / (ts[j] - ts[i]) for i in range(n) for j in range(i + 1, n) if ts[j] != ts[i]]
    else:
        import random

        draw = random.Random(n).random  # int(draw() * n): a third of randrange's cost, as uniform here
        slopes = []
        for _ in range(SLOPE_PAIRS):
            i, j = int(draw() * n), int(draw() * (n - 1))
            j += j >= i  # a second, different index
            if ts[j] != ts[i]:
                slopes.append((xs[j] - xs[i]) / (ts[j] - ts[i]))
    return median(slopes) if slopes else None


def mahonian(n: int) -> list[int]:
    """Number of permutations of n items with k inversions, k = 0 .. n(n-1)/2."""
    counts = [1]
    for m in range(2, n + 1):
        nxt = [0] * (len(counts) + m - 1)
        window = 0
        for k in range(len(nxt)):  # sliding-window sum of counts[k-m+1 .. k]
            window += counts[k] if k < len(counts) else 0
            if k - m >= 0:
                window -= counts[k - m]
            nxt[k] = window
        counts = nxt
    return counts


def _exact_p(n: int, s: int) -> float:
    """Two-sided P(|S| >= |s|) for n untied values."""
    dist = mahonian(n)
    total = math.factorial(n)
    pairs = n * (n - 1) // 2
    extreme = sum(c for i, c in enumerate(dist) if abs(pairs - 2 * i) >= abs(s))
    return min(1.0, extreme / total)


def _normal_p(n: int, s: int, values: Sequence[float]) -> float:
    ties: dict[float, int] = {}
    for v in values:
        ties[v] = ties.get(v, 0) + 1
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties.values())) / 18
    if var <= 0:
        return 1.0
    z = (s - _sign(s)) / math.sqrt(var)
    return min(1.0, math.erfc(abs(z) / math.sqrt(2)))


def mann_kendall(values: Sequence[float], times: Sequence[float] | None = None, *, alpha: float = 0.05) -> Trend:
    """Trend of ``values`` in their order; ``times`` (any unit) scale Sen's slope per unit."""
    xs = [float(v) for v in values]
    n = len(xs)
    ts = [float(t) for t in times] if times is not None else [float(i) for i in range(n)]
    if n < 3:
        return Trend("mann-kendall", n, 0, None, None, "insufficient", None, "none", False, alpha)
    s = _s_statistic(xs)
    tied = len(set(xs)) < n
    if not tied and n <= EXACT_MAX:
        p, method = _exact_p(n, s), "exact"
    else:
        p, method = _normal_p(n, s, xs), "normal"
    slope = _sen_slope(xs, ts)
    significant = p <= alpha and s != 0
    direction = ("increasing" if s > 0 else "decreasing") if significant else "none"
    tau = s / (n * (n - 1) / 2)
    return Trend("mann-kendall", n, s, round(tau, 6), round(p, 6), method, slope, direction, significant, alpha)


# --- Mann-Whitney U --------------------------------------------------------------------------


@dataclass
class MannWhitney:
    """Two-sided Mann-Whitney U of sample ``a`` against sample ``b``. ``shift`` says which way
    ``a`` lies (``lower``: its values tend to be smaller) when the test is significant, else
    ``none``. ``method`` is ``insufficient`` when either sample has fewer than ``MW_MIN``."""

    test: str
    n_a: int
    n_b: int
    u: float | None
    z: float | None
    p_value: float | None
    method: str  # "normal" or "insufficient"
    shift: str  # "lower", "higher", "none"
    significant: bool
    alpha: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


MW_MIN = 2


def mann_whitney(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05) -> MannWhitney:
    """U of ``a`` (mid-ranks for ties), normal approximation with the tie-corrected variance and
    a continuity correction (scipy's default ``mannwhitneyu(..., method="asymptotic")``).
    Used by the rating's time-to-green component and ``report failures --weekly``."""
    n, m = len(a), len(b)
    if n < MW_MIN or m < MW_MIN:
        return MannWhitney("mann-whitney-u", n, m, None, None, None, "insufficient", "none", False, alpha)
    in_a = Counter(map(float, a))
    rank_a = 0.0
    tie_term = 0
    i = 0  # values ranked so far
    for value, run in groupby(sorted(chain(map(float, a), map(float, b)))):
        t = sum(1 for _ in run)
        rank_a += ((2 * i + t - 1) / 2 + 1) * in_a.get(value, 0)  # the run's mid-rank for each of a's
        tie_term += t * t * t - t
        i += t
    total = n + m
    u = rank_a - n * (n + 1) / 2
    mu = n * m / 2
    var = n * m / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    if var <= 0:  # every value equal
        return MannWhitney("mann-whitney-u", n, m, u, 0.0, 1.0, "normal", "none", False, alpha)
    diff = u - mu
    z = (diff - math.copysign(0.5, diff)) / math.sqrt(var) if abs(diff) > 0.5 else 0.0
    p = min(1.0, math.erfc(abs(z) / math.sqrt(2)))
    significant = p < alpha
    shift = ("lower" if z < 0 else "higher") if significant else "none"
    return MannWhitney("mann-whitney-u", n, m, u, round(z, 6), float(f"{p:.6g}"), "normal", shift, significant,
                       alpha)
