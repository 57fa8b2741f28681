"""`cmdscope report danger [--since]`: dangerous-command matches by rule, severity and action."""

from cmdscope._reports.guardrails import main_danger as main

__all__ = ["main"]
