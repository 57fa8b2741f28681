"""Failure intelligence: classify failed commands, infer phases, count retries.

Usage (the runner calls this after every command whose outcome is not ``success``)::

    from cmdscope._failures import classify, infer_phase, RetryTracker

    c = classify(exit_code=1, signal=None, executable="pytest", argv=["pytest", "-x"],
                 phase=None, outcome="failure", stderr_tail=b"", stdout_tail=b"FAILED t.py::x")
    c.error_type, c.pattern_id, c.excerpt, c.taxonomy_version

The taxonomy (``registry/failure-taxonomy.yaml`` plus ``CMDSCOPE_TAXONOMY_PATH`` overlays) is
loaded on the first ``classify`` call from its plain-data cache; importing this package is cheap (no
yaml, no pydantic). Classes and precedence: docs/failures.md.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

from cmdscope._failures.phase import infer_phase
from cmdscope._failures.retry import RetryTracker

if TYPE_CHECKING:
    from typing import Any

    from cmdscope._failures.classify import Classification, Classifier
    from cmdscope._failures.compiled import CompiledTaxonomy


def __getattr__(name: str) -> object:
    # The classifier (and ``re`` behind it) loads on first use: most commands succeed and are
    # never classified, and every CLI process imports this package for phases and retries.
    if name in ("Classification", "Classifier"):
        return getattr(_classify_module(), name)
    raise AttributeError(f"module 'cmdscope._failures' has no attribute {name!r}")

__all__ = [
    "Classification",
    "Classifier",
    "RetryTracker",
    "classify",
    "default_classifier",
    "infer_phase",
    "reset",
    "taxonomy_version",
]

_default: Classifier | None = None


def default_classifier() -> Classifier:
    """The process-wide classifier over the effective taxonomy (loaded once, then reused)."""
    global _default
    if _default is None:
        from cmdscope._failures.taxonomy import load_taxonomy

        _default = _classify_module().Classifier(load_taxonomy())
    return _default


def reset(taxonomy: CompiledTaxonomy | None = None) -> None:
    """Forget the loaded taxonomy (or install `taxonomy`); the next classify reloads."""
    global _default
    _default = _classify_module().Classifier(taxonomy) if taxonomy is not None else None


def taxonomy_version() -> str:
    """The effective taxonomy version, recorded as cmdscope.taxonomy.version."""
    return default_classifier().version


def classify(*, exit_code: int | None, signal: int | None, executable: str, argv: list[str] | None,
             phase: str | None, outcome: str, stderr_tail: bytes,
             stdout_tail: bytes | None = None) -> Classification:
    """Classify one failed command with the default taxonomy (see Classifier.classify)."""
    return default_classifier().classify(
        exit_code=exit_code, signal=signal, executable=executable, argv=argv, phase=phase,
        outcome=outcome, stderr_tail=stderr_tail, stdout_tail=stdout_tail,
    )


def _classify_module() -> Any:
    """Import the submodule ``classify`` without letting it shadow the function ``classify``
    (importing a submodule binds its name on the package)."""
    import importlib

    module = importlib.import_module("cmdscope._failures.classify")
    globals()["classify"] = _classify_function
    return module


_classify_function = classify
