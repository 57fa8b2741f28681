"""`cmdscope report denials [--since]`: blocked commands by policy rule and source."""

from cmdscope._reports.guardrails import main_denials as main

__all__ = ["main"]
