"""`cmdscope report denials [--since]`: blocked commands by policy rule and source."""

from cmdscope.reports.guardrails import main_denials as main

__all__ = ["main"]
