"""Rollups over the ledger. One module per report, each with `main(argv) -> int` for the CLI
(`cmdscope report <name>`, table in cmdscope._cli.report) and plain functions over an iterable
of records for programmatic use (e.g. `cmdscope._reports.failures.failure_rollup`).

Shared helpers (time windows, streaming ledger reads, progress, tables) are in
`cmdscope._reports.common`.
"""
