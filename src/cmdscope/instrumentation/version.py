"""Version of the instrumentation: the cmdscope version (they ship together)."""

from cmdscope._version import __version__

__all__ = ["__version__"]
