"""Secret redaction internals; the public API is :mod:`cmdscope.redact`."""
