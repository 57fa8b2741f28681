"""``cmdscope pipeline run pipeline.yaml [--workdir DIR] [--policy FILE] [--format table|json|md]``.

Exit 0 when every stage passed and the governance policy allowed the auto-merge, 1 when a
stage failed, 3 when the run passed but needs human review, 2 on a bad file.
"""

from __future__ import annotations

import json
import sys

from cmdscope._cli import CliError
from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_

    p = Parser(prog="cmdscope pipeline", description="Run an SDLC pipeline file.")
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("run", help="run the stages, evaluate governance, merge when allowed")
    r.add_argument("file", help="the pipeline file (YAML: stages, gates, policy)")
    r.add_argument("--workdir", help="where the commands run (default: the file's workdir:, else the current directory)")
    r.add_argument("--policy", help="governance policy file (default: the file's policy:, else the shipped one)")
    r.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args_.add_format(r, ("table", "json", "md"))
    v = sub.add_parser("validate", help="check a pipeline file and its policy")
    v.add_argument("file", help="the pipeline file")
    v.add_argument("--policy", help="governance policy file to check with it (default: the file's policy:)")
    args = p.parse_args(argv)

    from cmdscope._sdlc.git import GitError
    from cmdscope._sdlc.yamlfile import ConfigError

    try:
        if args.action == "validate":
            from pathlib import Path

            from cmdscope._sdlc.governance import load_policy
            from cmdscope._sdlc.pipelines import load_pipeline

            spec = load_pipeline(args.file)
            load_policy(args.policy or (str(Path(args.file).resolve().parent / spec.policy) if spec.policy else None))
            print(f"{args.file}: ok ({len(spec.stages)} stages)")
            return 0
        from cmdscope._pipeline import close_ledgers
        from cmdscope._sdlc.pipelines import run_pipeline

        # With --format json|md, stdout carries only the record: the steps' output goes to stderr.
        result = run_pipeline(args.file, workdir=args.workdir, policy=args.policy, ledger=args.ledger, out=sys.stderr,
                              stdout=2 if args.format != "table" else None)
        close_ledgers()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    except GitError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result.record, sort_keys=True))
    elif args.format == "md":
        print(_markdown(result.record))
    if not result.ok:
        return 1
    return 0 if result.record.get("cmdscope.merge.result") == "auto" else 3


def _markdown(record: dict[str, object]) -> str:
    """The run record as a two-column Markdown table (for a PR comment or a CI summary)."""
    from cmdscope._reports.common import render_markdown

    rows = [[key, json.dumps(value) if isinstance(value, (list, dict)) else str(value)]
            for key, value in sorted(record.items())]
    return render_markdown(["FIELD", "VALUE"], rows)
