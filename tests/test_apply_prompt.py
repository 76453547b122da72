"""`infra apply` asks like `terraform apply`: on a terminal it shows each layer's plan and
applies only after `yes`; without a terminal it needs `--auto-approve`."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homelab import base_env, copy_example, state_resources

INFRA = Path(sys.executable).with_name("infra")
GUARD_SECONDS = 240  # only against a hang: the test waits for output, not for time


class Terminal:
    """`infra` on a pseudo-terminal, as a person runs it."""

    def __init__(self, root: Path, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes infra
            os.chdir(root)
            os.execve(str(INFRA), [str(INFRA), *args], base_env(TERM="xterm", COLUMNS="120"))
        self.out = ""

    def read_until(self, text: str) -> None:
        deadline = time.monotonic() + GUARD_SECONDS
        while text not in self.out:
            assert time.monotonic() < deadline, f"never saw {text!r} in:\n{self.out}"
            if not self._read():
                raise AssertionError(f"infra ended before {text!r}:\n{self.out}")

    def type(self, line: str) -> None:
        os.write(self.fd, f"{line}\n".encode())

    def wait(self) -> int:
        while self._read():
            pass
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _read(self) -> bool:
        ready, _, _ = select.select([self.fd], [], [], 5)
        if not ready:
            return True  # nothing yet; still running
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.out += data.decode(errors="replace")
        return bool(data)


@pytest.mark.terraform
def test_on_a_terminal_apply_shows_the_plan_and_applies_after_yes(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    term = Terminal(root, "apply", "bootstrap")

    term.read_until("Enter a value:")
    assert "Do you want to apply these changes to" in term.out
    assert "will be created" in term.out  # the plan, as Terraform prints it
    assert "\x1b[32m+\x1b[0m" in term.out  # in Terraform's colours: a green `+`
    assert state_resources(root, "bootstrap") == []  # nothing applied before the answer
    term.type("yes")

    assert term.wait() == 0, term.out
    assert state_resources(root, "bootstrap") != []
    # The result table ends as `terraform apply` does, with its summary line.
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in term.out


@pytest.mark.terraform
def test_any_answer_but_yes_cancels_and_applies_nothing(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    term = Terminal(root, "apply", "bootstrap", "platform")

    term.read_until("Enter a value:")
    term.type("y")

    assert term.wait() == 1, term.out
    assert "cancelled" in term.out
    assert state_resources(root, "bootstrap") == []
    assert state_resources(root, "platform") == []


def test_without_a_terminal_apply_needs_auto_approve(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    env = {**base_env(), "RUNNER_TEMP": str(tmp_path)}
    result = subprocess.run(
        [str(INFRA), "apply", "bootstrap"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--auto-approve" in result.stderr
    assert state_resources(root, "bootstrap") == []
    assert not (tmp_path / "infra-pipeline-crash.log").exists()
