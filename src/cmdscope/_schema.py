"""Every attribute key cmdscope writes, in one place: the schema in code.

Keys that OpenTelemetry's semantic conventions define (``process.*``, ``error.type``,
``vcs.*``, ``cicd.*``, ``session.id``, ``host.name``, ``gen_ai.tool.call.id``) carry the
convention's own name; tests/test_schema.py checks each against the constant of
opentelemetry-semantic-conventions where the installed version has it (the CLI cannot afford to
import that package). ``COMMAND_ATTRIBUTES`` generates the table of docs/telemetry.md and is
checked against the pydantic models of ``cmdscope._records`` by the same test.
"""

from __future__ import annotations

# --- OTel semantic conventions ----------------------------------------------------------------
PROCESS_EXECUTABLE_NAME = "process.executable.name"
PROCESS_COMMAND_LINE = "process.command_line"
PROCESS_EXIT_CODE = "process.exit.code"
PROCESS_PID = "process.pid"
PROCESS_WORKING_DIRECTORY = "process.working_directory"
ERROR_TYPE = "error.type"
VCS_REF_HEAD_NAME = "vcs.ref.head.name"
VCS_REF_HEAD_REVISION = "vcs.ref.head.revision"
SESSION_ID = "session.id"
HOST_NAME = "host.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
CICD_PIPELINE_NAME = "cicd.pipeline.name"
CICD_PIPELINE_RESULT = "cicd.pipeline.result"
CICD_PIPELINE_RUN_ID = "cicd.pipeline.run.id"
CICD_PIPELINE_RUN_STATE = "cicd.pipeline.run.state"
CICD_PIPELINE_TASK_NAME = "cicd.pipeline.task.name"
CICD_PIPELINE_TASK_RUN_ID = "cicd.pipeline.task.run.id"
CICD_PIPELINE_TASK_RUN_RESULT = "cicd.pipeline.task.run.result"
CICD_PIPELINE_TASK_TYPE = "cicd.pipeline.task.type"
CICD_PIPELINE_ACTION_NAME = "cicd.pipeline.action.name"

SEMCONV = {
    name: value for name, value in globals().items()
    if name.isupper() and isinstance(value, str) and not name.startswith("_")
}

# --- the command record (kind command, function, denial): key, type, meaning ------------------
COMMAND_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ('process.executable.name', 'str',
     'basename of the executable (`git`, `pytest`); for `--shell` commands, the first executed command'),
    ('process.command_line', 'str',
     'the whole command line, **redacted**'),
    ('process.exit.code', 'int',
     'the exit code the caller sees (`128+N` for death by signal N, 124 timeout, 126/127 cannot start)'),
    ('process.pid', 'int',
     "the child's pid (absent when it never started)"),
    ('process.working_directory', 'str',
     "the child's working directory"),
    ('error.type', 'str',
     'the error class id (see `docs/failures.md`) when the outcome is not `success`'),
    ('vcs.ref.head.name', 'str',
     'current branch (absent on a detached HEAD)'),
    ('vcs.ref.head.revision', 'str',
     'current commit sha'),
    ('session.id', 'str',
     'the agent session'),
    ('gen_ai.tool.call.id', 'str',
     "the agent's tool-call id (agent hooks)"),
    ('cmdscope.actor', 'str',
     'who ran it (`claude-code`, `ci`, `alice`)'),
    ('cmdscope.worktree', 'str',
     'git top-level directory of the working directory'),
    ('cmdscope.packet', 'str',
     'work packet id'),
    ('cmdscope.phase', 'str',
     'phase (`implement`, `test`, `lint`, `review`, ...)'),
    ('cmdscope.outcome', 'str',
     '`success`, `failure`, `timeout`, `interrupted`, `error`, `denied`'),
    ('cmdscope.command.hash', 'str',
     '`sha256` of the redacted command line, first 16 hex chars'),
    ('cmdscope.signal', 'int',
     'the signal that ended the child, when one did'),
    ('cmdscope.retry.count', 'int',
     'how many times this command hash failed before in the same session or packet'),
    ('cmdscope.retry_of', 'str',
     '`record_id` of the failure this run retries'),
    ('cmdscope.error.pattern', 'str',
     'id of the taxonomy pattern that classified the failure'),
    ('cmdscope.error.excerpt', 'str',
     'short redacted excerpt of the output that matched'),
    ('cmdscope.exit_code.known', 'bool',
     '`false` when an agent hook could not see the exit code (then `process.exit.code` is absent)'),
    ('cmdscope.policy.rule', 'str',
     'id of the policy rule that decided (allow/warn/deny)'),
    ('cmdscope.policy.source', 'str',
     '`file#policy-name@version` of that rule'),
    ('cmdscope.policy.ignored', 'str',
     '`rule (file#name@version)`: an untrusted project policy rule that would have loosened the decision and was left out (docs/guardrails.md#trust)'),
    ('cmdscope.guard.errors', 'str[]',
     'policy or registry files left out because they are broken, one line each (the other layers still applied)'),
    ('cmdscope.policy.action', 'str',
     '`allow`, `warn`, `deny`'),
    ('cmdscope.policy.mode', 'str',
     '`observe`, `warn`, `enforce`'),
    ('cmdscope.danger.rule', 'str[]',
     'ids of matching dangerous-command rules'),
    ('cmdscope.danger.severity', 'str',
     'highest severity among them (`critical`, `high`, `medium`, `low`)'),
    ('cmdscope.danger.category', 'str[]',
     'their categories'),
    ('cmdscope.registry.version', 'str',
     'effective danger registry version'),
    ('cmdscope.registry.digest', 'str',
     '`sha256:<hex>` content digest of the active team registry (`cmdscope registry sync`); absent when none is active'),
    ('cmdscope.registry.team_version', 'str',
     "version of the active team registry (its `registry.yaml`, else the digest's first 12 characters)"),
    ('cmdscope.taxonomy.version', 'str',
     'effective failure taxonomy version'),
    ('cmdscope.stderr.truncated', 'bool',
     'the classifier saw only the last 64 KiB of stderr'),
    ('host.name', 'str',
     'machine name'),
)

# --- SDLC records (docs/sdlc.md, docs/packets.md) ---------------------------------------------
SDLC_KEYS = frozenset(
    {
        "cmdscope.actor", "cmdscope.outcome", "cmdscope.packet", "cmdscope.worktree", "error.type",
        "cmdscope.packet.title", "cmdscope.packet.status", "cmdscope.packet.commands",
        "cmdscope.packet.failures", "cmdscope.packet.failure_density", "cmdscope.packet.gates",
        "cmdscope.packet.gates_passed", "cmdscope.packet.gate_pass_rate", "cmdscope.packet.denials",
        "cmdscope.packet.danger_hits", "cmdscope.packet.danger_critical", "cmdscope.packet.retries",
        "cmdscope.packet.commits", "cmdscope.gate.name", "cmdscope.gate.result", "cmdscope.gate.required",
        "cmdscope.gate.dirty", "cmdscope.gate.worktree_state", "cmdscope.gate.reason", "cmdscope.gate.command",
        "process.exit.code", "vcs.ref.head.revision", "cmdscope.commit.parent", "cmdscope.commit.message",
        "cmdscope.commit.files", "cmdscope.commit.paths", "cmdscope.commit.insertions",
        "cmdscope.commit.deletions", "cmdscope.commit.changed_lines", "cmdscope.commit.slices",
        "cmdscope.commit.atomic", "cmdscope.commit.since_gate_s", "cmdscope.commit.time", "cmdscope.commit.merge",
        "cmdscope.pipeline.stages", "cmdscope.pipeline.gates", "cmdscope.pipeline.gates_passed",
        "cmdscope.pipeline.policy", "cmdscope.pipeline.reason", CICD_PIPELINE_NAME, CICD_PIPELINE_RUN_ID,
        CICD_PIPELINE_RESULT, CICD_PIPELINE_TASK_NAME, CICD_PIPELINE_TASK_RUN_RESULT, CICD_PIPELINE_TASK_TYPE,
        CICD_PIPELINE_TASK_RUN_ID, CICD_PIPELINE_ACTION_NAME, CICD_PIPELINE_RUN_STATE,
        "cmdscope.merge.result", "cmdscope.merge.reasons", "cmdscope.heartbeat.name",
        "cmdscope.heartbeat.status", "cmdscope.schedule.on_time", "cmdscope.heartbeat.every_s",
        "cmdscope.heartbeat.grace_s", "cmdscope.audit.checks", "cmdscope.audit.passed",
        "cmdscope.audit.failed", "cmdscope.audit.details",
        "cmdscope.cleanup.target", "cmdscope.cleanup.path", "cmdscope.cleanup.reason", "cmdscope.cleanup.error",
    }
)

ALL_KEYS = frozenset(key for key, _, _ in COMMAND_ATTRIBUTES) | SDLC_KEYS

# Values cmdscope produces itself (ids, enums, hashes, rule ids): never passed through the
# redactor. Every other string (and string list) attribute is redacted before any sink sees it.
NOT_SECRET = frozenset(
    {
        "cmdscope.command.hash", "cmdscope.outcome", ERROR_TYPE, "cmdscope.error.pattern",
        "cmdscope.policy.action", "cmdscope.policy.mode", "cmdscope.danger.severity",
        "cmdscope.danger.rule", "cmdscope.danger.category", "cmdscope.registry.version",
        "cmdscope.taxonomy.version", VCS_REF_HEAD_REVISION,
        PROCESS_COMMAND_LINE,  # built from redacted parts
        "cmdscope.gate.result", "cmdscope.gate.worktree_state", "cmdscope.packet.status",
        "cmdscope.merge.result", CICD_PIPELINE_RESULT, CICD_PIPELINE_TASK_RUN_RESULT, CICD_PIPELINE_RUN_ID,
        CICD_PIPELINE_TASK_RUN_ID, CICD_PIPELINE_TASK_TYPE, CICD_PIPELINE_ACTION_NAME, CICD_PIPELINE_RUN_STATE,
        "cmdscope.commit.parent", "cmdscope.heartbeat.status",
        "cmdscope.registry.digest", "cmdscope.registry.team_version",
        SESSION_ID, "gen_ai.tool.call.id",  # agents' ids: redacting them breaks coverage matching
    }
)


def command_table() -> str:
    """The command-attribute table of docs/telemetry.md, as markdown."""
    lines = ["| key | type | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | {kind} | {meaning} |" for key, kind, meaning in COMMAND_ATTRIBUTES]
    return "\n".join(lines) + "\n"
