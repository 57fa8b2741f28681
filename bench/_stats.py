"""Small helpers shared by the benchmarks: medians, percentiles and ratio lines."""

from __future__ import annotations

import statistics


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, value: float, baseline: float, unit: str = "ms", bound: float | None = None) -> str:
    ratio = value / baseline if baseline else float("inf")
    verdict = ""
    if bound is not None:
        verdict = "  OK" if ratio <= bound else f"  OVER (bound {bound})"
    return f"{label:<48} {value:9.3f} {unit}   ratio {ratio:5.2f}{verdict}"
