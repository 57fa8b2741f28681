#!/bin/sh
# A whole local loop on a throwaway repository: packet, failing then passing tests, commits with
# the post-commit hook, gates, a pipeline that auto-merges with `git merge --ff-only`, reports.
# Usage: sh examples/sdlc/local_loop.sh   (needs git and cmdscope on PATH; writes only under a temp dir)
set -eu
CS=${CMDSCOPE:-cmdscope}
BASE=$(mktemp -d)
export CMDSCOPE_LEDGER="$BASE/ledger.jsonl" XDG_STATE_HOME="$BASE/state"
git init -q -b main "$BASE/repo" && cd "$BASE/repo"
git config user.email loop@example.com && git config user.name loop
printf 'def add(a, b):\n    return a - b\n' > app.py
git add app.py && git commit -qm "Add app"
git worktree add -q -b pkt-42 "$BASE/wt" && cd "$BASE/wt"
printf '#!/bin/sh\nexec %s packet commit-hook --quiet\n' "$CS" > "$(git rev-parse --git-common-dir)/hooks/post-commit"
chmod +x "$(git rev-parse --git-common-dir)/hooks/post-commit"

$CS packet start PKT-42 --title "Fix add" --actor example-agent
$CS gate run tests -- python3 -c "from app import add; assert add(2, 2) == 4" || echo "(tests fail, as expected)"
printf 'def add(a, b):\n    return a + b\n' > app.py
$CS gate run tests -- python3 -c "from app import add; assert add(2, 2) == 4"
git commit -qam "Fix add: return the sum"
cat > pipeline.yaml <<'YAML'
name: local
stages:
  - name: test
    type: test
    steps:
      - gate: tests
        run: python3 -c "from app import add; assert add(2, 2) == 4"
        required: true
merge: {action: ff, target: main}
YAML
$CS pipeline run pipeline.yaml
$CS packet end
echo "main is now $(git -C "$BASE/repo" rev-parse --short main) (pkt-42 is $(git rev-parse --short HEAD))"
$CS report packets
$CS report commits
$CS report html -o "$BASE/report.html" && echo "open $BASE/report.html"
