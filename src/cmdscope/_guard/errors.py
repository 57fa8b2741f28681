"""Errors the guard raises for unusable configuration (one line naming file, rule and field)."""


class GuardConfigError(ValueError):
    """A registry or policy file that cannot be used."""


class GuardModeError(GuardConfigError):
    """CMDSCOPE_GUARD_MODE has a value other than observe, warn or enforce."""
