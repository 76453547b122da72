"""A pull request on the example, end to end: a real git repository, the GitHub stand-in, and
`infra event` run as a subprocess with the environment GitHub Actions gives a job."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab import base_env, copy_example, set_engine
from infra_pipeline.core.dashboard.model import Dashboard
from infra_pipeline.core.dashboard.render import parse
from standin import FileChange, GitHubStandIn, make_event

SRC = Path(__file__).resolve().parent.parent / "src"
PLAN_KEY = "test-plan-key-0123456789abcdef"  # the INFRA_PLAN_KEY secret of the stories


def git(root: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    env = {
        **(env or {}),
        **base_env(),
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    result = subprocess.run(
        ["git", *args], cwd=root, env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@dataclass
class EventRun:
    code: int
    out: str
    err: str


@dataclass
class Job:
    """A running `infra event`; `wait` also marks its workflow run completed, as GitHub does."""

    proc: subprocess.Popen[str]
    run_id: int
    standin: GitHubStandIn

    def wait(self, timeout: float = 240) -> EventRun:
        out, err = self.proc.communicate(timeout=timeout)
        conclusion = "success" if self.proc.returncode == 0 else "failure"
        self.standin.add_workflow_run(self.run_id, "completed", conclusion)
        return EventRun(self.proc.returncode, out, err)


@dataclass
class Repo:
    """The infrastructure repository: `main` at `base`, the PR branch checked out."""

    root: Path
    standin: GitHubStandIn
    env: dict[str, str]
    base: str
    run: int = 100
    payload_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.payload_dir = self.root.parent / "events"
        self.payload_dir.mkdir(exist_ok=True)

    def commit(self, path: str, old: str, new: str, message: str) -> str:
        target = self.root / path
        text = target.read_text()
        assert old in text, f"{old!r} not in {path}"
        target.write_text(text.replace(old, new))
        git(self.root, "add", "-A")
        git(self.root, "commit", "-qm", message)
        return git(self.root, "rev-parse", "HEAD")

    def merge_to_main(self, path: str, text: str | None, message: str) -> str:
        """A commit on `main` setting `path` to `text` (None: deleting it), in the checkout
        (without touching the PR branch or the work tree) and on GitHub; it becomes the base
        of the pull requests opened after."""
        index = self.root.parent / "main.index"
        env = {"GIT_INDEX_FILE": str(index)}
        git(self.root, "read-tree", self.base, env=env)
        if text is None:
            git(self.root, "update-index", "--force-remove", path, env=env)
        else:
            blob = git(self.root, "hash-object", "-w", "--stdin", stdin=text)
            git(self.root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = git(self.root, "write-tree", env=env)
        index.unlink()
        commit = git(self.root, "commit-tree", tree, "-p", self.base, "-m", message)
        git(self.root, "update-ref", "refs/heads/main", commit)
        self.standin.add_commit(commit)
        self.standin.set_ref("refs/heads/main", commit)
        self.standin.set_file(path, text, ref=commit)
        self.base = commit
        return commit

    def open_pr(self, number: int, head: str, files: list[str], **kw: Any) -> None:
        self.standin.add_pull(number, head_sha=head, base_sha=self.base, files=files, **kw)

    def push(self, number: int, head: str, files: list[str]) -> None:
        """A new commit on the PR branch: GitHub's view of the PR follows it."""
        self.standin.add_commit(head)
        pull = self.standin.pulls[number]
        pull.head_sha = head
        pull.files = [FileChange(f, "modified") for f in files]

    def event(self, name: str, payload: dict[str, Any], **env: str) -> EventRun:
        return self.spawn(name, payload, **env).wait()

    def spawn(
        self, name: str, payload: dict[str, Any], *, cwd: Path | None = None, **env: str
    ) -> Job:
        """Start the job without waiting for it: for tests that signal it mid-way or run two
        at once. `cwd`: another checkout of the repository."""
        self.run += 1
        path = self.payload_dir / f"{self.run}.json"
        path.write_text(json.dumps(payload))
        summary = self.payload_dir / f"{self.run}.summary.md"
        full_env = {
            **self.env,
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": name,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_RUN_ID": str(self.run),
            "GITHUB_STEP_SUMMARY": str(summary),
            "PYTHONPATH": str(SRC),
            **env,
        }
        self.standin.add_workflow_run(self.run, "in_progress")
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra_pipeline", "event"],
            cwd=cwd or self.root,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Job(proc, self.run, self.standin)

    def pr_payload(self, number: int, action: str = "opened") -> dict[str, Any]:
        """The `pull_request` event GitHub would send for the PR as the stand-in holds it."""
        pull = self.standin.pulls[number]
        return make_event(
            "pull_request",
            action,
            number=number,
            head_sha=pull.head_sha,
            base_sha=pull.base_sha,
            author=pull.author.login,
            draft=pull.draft,
            fork=pull.fork,
            merged=pull.merged,
        )

    def pr_event(self, number: int, action: str = "opened") -> EventRun:
        return self.event("pull_request", self.pr_payload(number, action))

    def comment(self, number: int, body: str, user: str) -> tuple[EventRun, int]:
        record = self.standin.add_comment(number, body, user=user)
        payload = make_event(
            "issue_comment", "created", number=number, body=body, user=user, comment_id=record.id
        )
        return self.event("issue_comment", payload), record.id


def make_repo(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], *, engine: str = ""
) -> Repo:
    """The example in a git repository; `engine` runs every layer with that engine instead."""
    root = copy_example(tmp_path)
    if engine:
        set_engine(root, engine)
    (root / ".gitignore").write_text(".terraform/\n*.tfstate*\ne2e/reports/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "infrastructure as it is on main")
    base = git(root, "rev-parse", "HEAD")
    standin.add_commit(base)
    # GitHub has main's infra.yaml, where every pull request's policy is read from.
    standin.set_ref("refs/heads/main", base)
    standin.set_file("infra.yaml", (root / "infra.yaml").read_text(), ref=base)
    git(root, "checkout", "-qb", "change")
    env = {**base_env(), **gh_env, "INFRA_PLAN_KEY": PLAN_KEY}
    env.pop("INFRA_CONFIG", None)
    return Repo(root, standin, env, base)


def dashboard_body(standin: GitHubStandIn, number: int, sha: str) -> str:
    bodies = [
        c.body
        for c in standin.comments(number)
        if c.body.startswith(f"<!-- infra-dashboard:{sha[:7]}")
    ]
    assert len(bodies) == 1, f"expected one dashboard for {sha[:7]}, found {len(bodies)}"
    return bodies[0]


def dashboard_of(standin: GitHubStandIn, number: int, sha: str) -> Dashboard:
    """The dashboard of commit `sha` as its model: the state the board keeps in the comment,
    read back by the reader `/apply` trusts (`core.dashboard.render.parse`, which refuses a
    comment whose state does not match its marker). Stories assert on its rows and derived
    state, not on the Markdown's words."""
    return parse(dashboard_body(standin, number, sha))


def replies(standin: GitHubStandIn, number: int) -> list[str]:
    return [
        c.body for c in standin.comments(number) if c.body.startswith("<!-- infra-pipeline -->")
    ]
