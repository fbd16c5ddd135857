"""README's two commands are the contract with a new user; CI must run the test command exactly as README gives it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- commands -->\s*```(?:bash|sh)\n(.*?)```", readme, re.S)
    assert block, "README.md must hold its set-up commands in a ```bash block after <!-- commands -->"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_gives_exactly_two_commands_pinning_torch():
    commands = _commands()
    assert len(commands) == 2, commands
    for command in commands:
        assert "torch==2.13.0" in command, f"install path must pin the CPU torch: {command}"


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(c for c in _commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci, f".ci/run must call README's test command: {test_command!r}"
