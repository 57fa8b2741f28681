"""Secret redaction: built-in rules, guards, argv awareness, user patterns and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdscope import redact as api
from cmdscope.redact import REDACTED_MARK_RE, Redactor, redact, redact_argv
from cmdscope._redaction.ruleset import load_rules

CORPUS_PATH = Path(__file__).parent / "data" / "redaction_corpus.jsonl"
CORPUS = [json.loads(line) for line in CORPUS_PATH.read_text().splitlines() if line.strip()]
POSITIVES = [row for row in CORPUS if row["secrets"]]
NEGATIVES = [row for row in CORPUS if not row["secrets"]]
RULE_NAMES = sorted({rule.name for rule in load_rules({})} | {"high-entropy"})


def leaked_windows(secret: str, text: str, width: int = 12) -> list[str]:
    """Every `width`-character window of `secret` (the whole secret if shorter) found in text."""
    if len(secret) <= width:
        return [secret] if secret in text else []
    return [secret[i:i + width] for i in range(len(secret) - width + 1) if secret[i:i + width] in text]


def run_cli(args: list[str], data: bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cmdscope", "redact", *args],
        input=data,
        capture_output=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(autouse=True)
def clean_patterns() -> None:
    api.reset_patterns()
    yield
    api.reset_patterns()


class TestCorpus:
    def test_corpus_is_big_enough(self) -> None:
        """The labelled corpus has >= 100 texts, >= 30 of them negatives."""
        assert len(CORPUS) >= 100
        assert len(NEGATIVES) >= 30

    @pytest.mark.parametrize("row", POSITIVES, ids=[r["id"] for r in POSITIVES])
    def test_every_secret_is_removed(self, row: dict) -> None:
        """No 12-character window of any labelled secret survives redaction."""
        out = redact(row["text"])
        for secret in row["secrets"]:
            assert leaked_windows(secret, out) == [], out

    def test_negatives_stay_unchanged(self) -> None:
        """At most 3% of the negatives (SHAs, UUIDs, $VARs, paths, hashes...) are changed."""
        changed = [row["id"] for row in NEGATIVES if redact(row["text"]) != row["text"]]
        assert len(changed) <= 0.03 * len(NEGATIVES), changed

    @pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
    def test_redaction_is_idempotent(self, row: dict) -> None:
        """Already-masked text is left alone: redacting twice equals redacting once."""
        once = redact(row["text"])
        assert redact(once) == once


class TestBuiltinPatterns:
    @pytest.mark.parametrize("name", RULE_NAMES)
    def test_each_pattern_has_a_working_example(self, name: str) -> None:
        """Each built-in rule has a corpus example whose secrets it masks under its own name."""
        examples = [row for row in POSITIVES if row["rule"] == name]
        assert examples, f"no corpus example for rule {name}"
        for row in examples:
            out = redact(row["text"])
            assert f"[REDACTED:{name}]" in out, out
            assert all(not leaked_windows(s, out) for s in row["secrets"]), out

    def test_marker_format(self) -> None:
        """Markers are `[REDACTED:<rule>]` and REDACTED_MARK_RE finds exactly them."""
        out = redact("export AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986")
        assert out == "export AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]"
        assert REDACTED_MARK_RE.findall(out) == ["[REDACTED:aws-access-key-id]"]

    def test_whole_token_is_masked(self) -> None:
        """A token is masked from its first to its last character, prefix included."""
        token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
        assert redact(f"x {token} y") == "x [REDACTED:github-token] y"

    def test_overlapping_matches_merge_into_one_marker(self) -> None:
        """A token inside a URL password and an assignment yields one marker, not nested ones."""
        token = "glpat-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn"
        out = redact(f"REPO_TOKEN={token} git clone https://ci:{token}@gitlab.com/g/p.git")
        assert out == (
            "REPO_TOKEN=[REDACTED:gitlab-token] git clone "
            "https://ci:[REDACTED:gitlab-token]@gitlab.com/g/p.git"
        )

    def test_multiline_pem_block_is_masked_whole(self) -> None:
        """A PEM private key becomes one marker, BEGIN to END, the text around it kept."""
        text = "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\nafter"
        assert redact(text) == "before\n[REDACTED:private-key]\nafter"


class TestFalsePositiveGuards:
    @pytest.mark.parametrize(
        "text",
        [
            "echo $GITHUB_TOKEN",
            "TOKEN=$GITHUB_TOKEN ./x",
            "PASSWORD=${DB_PASSWORD:-} ./x",
            "curl -H 'Authorization: Bearer $TOKEN' https://x",
            "mysql --password=\"$MYSQL_PASSWORD\" db",
            "https://user:${PASS}@host/x",
            "git show 3f786850e387550fdab836ed7e6dc881de23001b",
            "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "job 550e8400-e29b-41d4-a716-446655440000 done",
            "git log --author=alice author=bob",
            "export PWD=/home/alice OLDPWD=/tmp",
            "PASSWORD=[REDACTED:secret-assignment] ./deploy",
        ],
    )
    def test_references_ids_and_masks_stay(self, text: str) -> None:
        """$VAR/${VAR} references, git SHAs, UUIDs, `author` and existing markers are kept."""
        assert redact(text) == text

    def test_auth_but_not_author(self) -> None:
        """`auth=` is a credential name, `author=` is not (logfire's word-boundary guard)."""
        assert redact("auth=x9y8z7 author=alice") == "auth=[REDACTED:secret-assignment] author=alice"

    def test_base64_of_plain_text_is_kept_but_base64_of_a_secret_is_not(self) -> None:
        """The generic rule judges base64 by its decoding: prose stays, an encoded key goes."""
        import base64

        prose = base64.b64encode(b"just some ordinary words here, nothing more").decode()
        assert redact(f"echo {prose}") == f"echo {prose}"
        hidden = base64.b64encode(b"export API_TOKEN=Zk2fQ9xLp3Rv7Tn1Wm5y").decode()
        assert redact(f"echo {hidden}") == "echo [REDACTED:high-entropy]"

    def test_function_call_is_not_a_password(self) -> None:
        """`password = getpass()` assigns from code, it does not contain the password."""
        assert redact("password = getpass()") == "password = getpass()"


class TestArgv:
    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            (["mysql", "-uroot", "-pHunter2", "db"], ["mysql", "-uroot", "-p[REDACTED:mysql-password-flag]", "db"]),
            (["mysql", "-u", "root", "-p", "db"], ["mysql", "-u", "root", "-p", "db"]),
            (["redis-cli", "-a", "s3cret", "ping"], ["redis-cli", "-a", "[REDACTED:redis-password-flag]", "ping"]),
            (["redis-cli", "-p", "6379", "ping"], ["redis-cli", "-p", "6379", "ping"]),
            (["curl", "-u", "bob:pw1", "https://x"], ["curl", "-u", "bob:[REDACTED:curl-user-password]", "https://x"]),
            (["curl", "-ubob:pw1", "https://x"], ["curl", "-ubob:[REDACTED:curl-user-password]", "https://x"]),
            (["curl", "-u", "bob", "https://x"], ["curl", "-u", "bob", "https://x"]),
            (["sshpass", "-p", "pw", "ssh", "h"], ["sshpass", "-p", "[REDACTED:sshpass-password]", "ssh", "h"]),
            (["tool", "--password", "pw", "x"], ["tool", "--password", "[REDACTED:password-flag]", "x"]),
            (["tool", "--db-password", "pw"], ["tool", "--db-password", "[REDACTED:password-flag]"]),
            (["tool", "--password=pw"], ["tool", "--password=[REDACTED:password-flag]"]),
            (["tool", "--token", "$TOKEN"], ["tool", "--token", "$TOKEN"]),
            (["docker", "login", "--password-stdin"], ["docker", "login", "--password-stdin"]),
            (["docker", "login", "-u", "me", "-p", "pw"], ["docker", "login", "-u", "me", "-p", "[REDACTED:login-password-flag]"]),
            (["docker", "run", "-p", "8080:80", "nginx"], ["docker", "run", "-p", "8080:80", "nginx"]),
            (["/usr/bin/ldapsearch", "-w", "pw", "-b", "dc=x"], ["/usr/bin/ldapsearch", "-w", "[REDACTED:ldap-password-flag]", "-b", "dc=x"]),
            (["htpasswd", "-bc", "f", "user", "pw"], ["htpasswd", "-bc", "f", "user", "[REDACTED:htpasswd-password]"]),
            (["gh", "secret", "set", "K", "--body", "v"], ["gh", "secret", "set", "K", "--body", "[REDACTED:gh-secret-body]"]),
            (["env", "PGPASSWORD=pw", "psql"], ["env", "PGPASSWORD=[REDACTED:secret-assignment]", "psql"]),
            (["ssh", "-p", "22", "host"], ["ssh", "-p", "22", "host"]),
        ],
    )
    def test_next_argument_secrets(self, argv: list[str], expected: list[str]) -> None:
        """Secrets carried by the next or attached argument are masked per tool; ports are not."""
        assert redact_argv(argv) == expected

    def test_argv_elements_get_text_rules(self) -> None:
        """Each element also goes through the text rules (tokens, URLs, headers)."""
        token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
        out = redact_argv(["git", "push", f"https://{token}@github.com/o/r"])
        assert out == ["git", "push", "https://[REDACTED:github-token]@github.com/o/r"]


class TestUserPatterns:
    def test_add_pattern_masks_its_secret_group(self) -> None:
        """add_pattern adds a rule; a group named `s` limits the mask to the secret part."""
        assert redact("ticket ACME-9f8e7d") == "ticket ACME-9f8e7d"
        api.add_pattern("acme-ticket", r"ACME-(?P<s>[0-9a-f]{6})", keywords=["acme-"])
        assert redact("ticket ACME-9f8e7d") == "ticket ACME-[REDACTED:acme-ticket]"
        api.reset_patterns()
        assert redact("ticket ACME-9f8e7d") == "ticket ACME-9f8e7d"

    @pytest.mark.parametrize(
        ("name", "regex", "message"),
        [("Bad Name", "x", "bad pattern name"), ("ok", "(", "bad regex"), ("ok", "a*", "empty string")],
    )
    def test_bad_patterns_are_rejected_clearly(self, name: str, regex: str, message: str) -> None:
        """Invalid names, regexes and empty-matching patterns raise RedactionConfigError."""
        with pytest.raises(api.RedactionConfigError, match=message):
            Redactor().add_pattern(name, regex)

    def test_patterns_file_from_environment(self, tmp_path: Path) -> None:
        """CMDSCOPE_REDACT_PATTERNS names a file of `name regex` lines used by a fresh process."""
        patterns = tmp_path / "extra.txt"
        patterns.write_text("# internal ids\ninternal-key  IK-[0-9]{8}\n")
        proc = run_cli([], b"use IK-12345678 now\n", {"CMDSCOPE_REDACT_PATTERNS": str(patterns)})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == b"use [REDACTED:internal-key] now\n"

    def test_bad_patterns_file_is_one_clear_line(self, tmp_path: Path) -> None:
        """A bad patterns file stops the CLI with exit 2 and one line naming file and line."""
        patterns = tmp_path / "extra.txt"
        patterns.write_text("good  abc[0-9]+\nbroken  ([a-z]\n")
        proc = run_cli([], b"x\n", {"CMDSCOPE_REDACT_PATTERNS": str(patterns)})
        assert proc.returncode == 2
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"cmdscope redact: {patterns}:2:"), lines


class TestCli:
    def test_stdin_to_stdout(self) -> None:
        """`cmdscope redact` writes its input with secrets masked and everything else intact."""
        data = b"ok line\nexport NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz0123456789\n"
        proc = run_cli([], data)
        assert proc.returncode == 0
        assert proc.stdout == b"ok line\nexport NPM_TOKEN=[REDACTED:npm-token]\n"

    def test_pem_block_across_lines_is_one_marker(self) -> None:
        """A private key spanning lines is masked whole even though input streams by line."""
        body = [b"MIIEowIBAAKCAQEAx9Lq" + bytes(str(i), "ascii") * 40 for i in range(30)]
        data = b"key:\n-----BEGIN RSA PRIVATE KEY-----\n" + b"\n".join(body) + b"\n-----END RSA PRIVATE KEY-----\ndone\n"
        proc = run_cli([], data)
        assert proc.stdout == b"key:\n[REDACTED:private-key]\ndone\n"

    def test_unterminated_pem_block_masks_to_the_end(self) -> None:
        """A key whose END line never comes is masked to the end of the input (fail closed)."""
        proc = run_cli([], b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBx\nmore secret lines\n")
        assert proc.stdout == b"[REDACTED:private-key]\n"

    def test_invalid_utf8_and_binary_pass_through(self) -> None:
        """Invalid UTF-8 and binary bytes are copied unchanged; secrets next to them are masked."""
        data = bytes(range(256)) + b"\n\xff\xfe password=hunter2x \xc3\x28\n"
        proc = run_cli([], data)
        assert proc.returncode == 0
        assert proc.stdout == bytes(range(256)) + b"\n\xff\xfe password=[REDACTED:secret-assignment] \xc3\x28\n"

    def test_long_line_is_masked_across_read_pieces(self) -> None:
        """A token straddling the 64 KiB read boundary of a huge line is still masked whole."""
        token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
        data = ("word " * 13106 + "ab" + " " + token + " tail").encode()  # token crosses 65536
        assert data.index(token.encode()) < 65536 < data.index(token.encode()) + len(token)
        proc = run_cli([], data)
        assert proc.stdout == data.replace(token.encode(), b"[REDACTED:github-token]")

    def test_output_follows_input_line_by_line(self) -> None:
        """Piped input is streamed: a redacted line comes out before stdin is closed."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "cmdscope", "redact"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(b"TOKEN=abc123xyz first\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == b"TOKEN=[REDACTED:secret-assignment] first\n"
            proc.stdin.write(b"second\n")
            proc.stdin.close()
            assert proc.stdout.read() == b"second\n"
        finally:
            proc.kill()
            proc.wait()

    def test_memory_stays_bounded_on_large_input(self, tmp_path: Path) -> None:
        """50 MB in one line through the CLI keeps the child's peak RSS far below 50 MB."""
        src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
        with src.open("wb") as fh:
            for _ in range(50):
                fh.write((b"x" * 1000 + b" ") * 1000)  # 1 MB, no newline anywhere
        # A fresh parent process, so RUSAGE_CHILDREN sees only the redact child.
        probe = (
            "import resource, subprocess, sys\n"
            "with open(sys.argv[1], 'rb') as i, open(sys.argv[2], 'wb') as o:\n"
            "    rc = subprocess.run([sys.executable, '-m', 'cmdscope', 'redact'], stdin=i, stdout=o).returncode\n"
            "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        out = subprocess.run([sys.executable, "-c", probe, str(src), str(dst)],
                             capture_output=True, text=True, timeout=120, check=True)
        rc, peak_kib = map(int, out.stdout.split())
        assert rc == 0 and dst.stat().st_size == src.stat().st_size
        assert peak_kib < 40 * 1024, peak_kib

    def test_list_prints_rule_names(self) -> None:
        """`--list` prints every rule name, the generic rule included."""
        proc = run_cli(["--list"], b"")
        assert proc.stdout.decode().split() == RULE_NAMES


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_text_is_handled(text: str) -> None:
    """Arbitrary text never raises, and redacting the result again changes nothing."""
    out = redact(text)
    assert isinstance(out, str)
    assert redact(out) == out


class TestRulesAsData:
    def test_shipped_rules_pass_their_examples_and_near_misses(self) -> None:
        """Every rule in registry/redaction/ masks its examples (alone) and the full redactor
        leaves every near miss unchanged, as `cmdscope registry lint` checks."""
        from cmdscope._redaction.lint import lint
        from cmdscope._redaction.ruleset import rule_files

        count, problems = lint(*rule_files({}))
        assert count >= 60 and problems == []

    def test_overlay_adds_and_disables_rules(self, tmp_path: Path) -> None:
        """A redaction/ directory in CMDSCOPE_REGISTRY_PATH adds rules and disables shipped ones,
        seen by the next process (the compiled cache is keyed on the files)."""
        overlay = tmp_path / "team" / "redaction"
        overlay.mkdir(parents=True)
        (overlay / "acme.yaml").write_text(
            "rules:\n  - name: acme-key\n    keywords: [acme-]\n    pattern: 'ACME-[0-9]{8}'\n"
            "    examples: ['ACME-12345678']\n    near_misses: ['ACME-1']\n"
        )
        env = {"CMDSCOPE_REGISTRY_PATH": str(tmp_path / "team")}
        text = b"ACME-12345678 npm_" + b"a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
        out = run_cli([], text, env).stdout
        assert out.startswith(b"[REDACTED:acme-key] [REDACTED:npm-token]"), out
        (overlay / "acme.yaml").write_text((overlay / "acme.yaml").read_text() + "disable: [npm-token]\n")
        out = run_cli([], text, env).stdout
        assert out.startswith(b"[REDACTED:acme-key] [REDACTED:high-entropy]"), out

    def test_lint_names_file_rule_and_field(self, tmp_path: Path) -> None:
        """An example its rule does not mask fails `cmdscope registry lint` (exit 1); a schema error
        is one line naming file, rule and field (exit 2), never a traceback."""
        overlay = tmp_path / "redaction"
        overlay.mkdir()
        bad = overlay / "x.yaml"
        bad.write_text("rules:\n  - name: acme-key\n    keywords: [acme-]\n    pattern: 'ACME-[0-9]{8}'\n"
                       "    examples: ['ACME-123']\n    near_misses: ['ACME-1']\n")
        proc = subprocess.run([sys.executable, "-m", "cmdscope", "registry", "lint", str(overlay)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and f"{bad}: rule acme-key" in proc.stdout
        assert "field 'examples': not masked: 'ACME-123'" in proc.stdout
        bad.write_text("rules:\n  - name: Acme Key\n    pattern: 'x'\n    examples: [x]\n    near_misses: [y]\n")
        proc = subprocess.run([sys.executable, "-m", "cmdscope", "registry", "lint", str(bad)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "rule #1 (Acme Key): field 'name'" in proc.stderr

    def test_hot_path_reads_the_compiled_cache_without_yaml_or_pydantic(self, tmp_path: Path) -> None:
        """After the first process, redacting loads neither yaml nor pydantic."""
        probe = ("import sys; from cmdscope.redact import redact; redact('PGPASSWORD=x9 psql'); "
                 "print(sorted(m for m in ('yaml', 'pydantic') if m in sys.modules))")
        env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
        subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True)
        out = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
        assert out.stdout.strip() == "[]"


class TestSyntaxAndFalsePositiveClasses:
    @pytest.mark.parametrize("text, secret", [
        ('token := "Go5ecretTok9"', "Go5ecretTok9"),
        ("PASSWORD ?= mak3Pw9", "mak3Pw9"),
        ("'password' => 'Php5ecret9'", "Php5ecret9"),
        ('if password == "Cmp4re9x": ok()', "Cmp4re9x"),
        ("const apiKey = `B4cktick9Tok`", "B4cktick9Tok"),
        ('<add key="DbPassword" value="Xml5ecret9" />', "Xml5ecret9"),
        ("Connect-AzAccount -ClientSecret 'Cl1entS3cret9'", "Cl1entS3cret9"),
        ("password: my pass (old) 9", "my pass (old) 9"),
        ("DB_PASSWORD_PROD=Prod5ecret9", "Prod5ecret9"),
        ("export BUNDLE_GEMS__CONTRIBSYS__COM=user:ab12cd34", "ab12cd34"),
        ("SONAR_LOGIN=f3a9c2e1b7d4", "f3a9c2e1b7d4"),
        ("kind: Secret\ndata:\n  api: c2VjcmV0LXZhbHVlOQ==\n", "c2VjcmV0LXZhbHVlOQ=="),
        ("curl \\\n  -u deploy:Cur1Pw9 \\\n  https://x", "Cur1Pw9"),
        ("curl -su 'admin:p@ss w0rd' https://x", "p@ss w0rd"),
        ("curl --user=\"ci:Qu0tedPw9\" https://x", "Qu0tedPw9"),
    ])
    def test_secret_in_syntax_is_masked(self, text: str, secret: str) -> None:
        """Config and source syntax beyond NAME=value: the whole value is masked."""
        assert secret not in redact(text)

    @pytest.mark.parametrize("text", [
        'curl -u "$USER:$PASS" https://x', "token: ${{ secrets.GITHUB_TOKEN }}", "password: {{ .Values.db.password }}",
        "API_KEY=xxxxxxxxxxxxxxxx", "SECRET_KEY=<your-secret-key>", "OPENAI_API_KEY=insert_key_here",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "https://example.com/api/v1/files/Xk9mQ2pL7rT4vW8nB3cF6hJ1/raw",
        "GET /static/js/main.4kP9xQ2mZ7rT1vW8nB3cF6hJ.chunk.js", "STRIPE_PUBLISHABLE_KEY=pk_live_4kP9xQ2mZ7rT1vW8nB3cF6hJ",
        "public_key=Xk9mQ2pL7rT4vW8nB3cF6hJ1aa", "io.jsonwebtoken:jjwt-api:0.11.5", "SyntaxError: Unexpected token: '}'",
        "TOKEN_FILE=/run/secrets/token", "password = var.db_password", 'password = os.environ["DB_PASSWORD"]',
        "kubectl create configmap c --from-literal=MODE=fast", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4kP9xQ2mZ7rT1vW8nB3cF6hJ ci",
    ])
    def test_near_miss_is_left_alone(self, text: str) -> None:
        """References, placeholders, ids in URLs, asset hashes, public keys, coordinates, prose."""
        assert redact(text) == text

    def test_multi_part_token_is_masked_whole(self) -> None:
        """A dotted token found by the generic rule is masked across all its parts."""
        token = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
        assert redact(f"client.run('{token}')") == "client.run('[REDACTED:high-entropy]')"
