"""Agent and git integrations: Claude Code and Codex hooks, the OpenCode plugin bridge, git hooks.

- ``cmdscope hook claude-code`` / ``cmdscope hook codex``: one hook event per process
  (:mod:`cmdscope._integrations.claude_code`, :mod:`cmdscope._integrations.codex`).
- ``cmdscope hook opencode-bridge``: the long-lived helper the OpenCode plugin
  (``integrations/data/opencode/cmdscope.ts``) talks to (:mod:`cmdscope._integrations.opencode`).
- ``cmdscope integrations install|uninstall ...``: :mod:`cmdscope._integrations.install`.
- git ``pre-push`` / ``post-commit``: :mod:`cmdscope._integrations.git_hooks`.

The logic shared by all agents (decide, open, close, deny) is :mod:`cmdscope._integrations.agent`.
See docs/integrations.md.
"""
