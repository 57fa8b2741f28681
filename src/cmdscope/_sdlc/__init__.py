"""SDLC governance: work packets, gates, commit cadence, pipelines, heartbeats and audits.

Every module writes records of schema v1 (docs/telemetry.md, docs/sdlc.md) to the ledger and,
when an OTel SDK is configured, live spans and metrics. Nothing here is imported by the
per-command hot path except the active-packet lookup in ``cmdscope.context``.
"""
