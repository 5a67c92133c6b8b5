"""Every sub-command, found from the parser, fails with one line and a documented exit code.

Each command line runs as a real process (``python -m streams.cli``) with Kafka and Redis down
(closed loopback ports), with invalid numbers, and, for commands that listen, with their port
taken. SEGSTREAM_DEPENDENCY_TIMEOUT_S=1 makes the commands that wait for Kafka or Redis give up
soon; the subprocess timeout is only a guard against a hang.

Not run against a dead stack (their invalid arguments are still checked, rejected before they
start anything): ``dev up`` and ``demo`` start a Kafka broker (a JVM) and a Redis server of their
own, which a shared 2-core machine cannot afford per test run; streams/stack's tests cover them.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from streams.cli import _parser
from streams.cli_args import at_least_one, non_negative, port_number, port_or_any, positive
from streams.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
)
from tests.integration.harness import free_port

# EXIT_INTERNAL (a bug) is documented too, but never the right answer here.
DOCUMENTED = {EXIT_OK, EXIT_UNHEALTHY, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_INTERRUPTED}
GUARD_S = 120  # a hang guard only: every command here ends (or is stopped) within seconds

NOT_RUN = {
    ("dev", "up"): "starts a Kafka broker and a Redis server (see the module docstring)",
    ("demo",): "starts a Kafka broker and a Redis server first (see the module docstring)",
}
# Commands that keep running by design once started; each says so on one line of stdout first,
# then the test stops it with SIGINT (Ctrl-C) and expects a quiet exit.
LONG_RUNNING = {
    ("storefront",): "serves pages; with Redis down it serves the default content (fails open)",
    ("rules", "watch"): "publishes each valid save; it reaches Kafka only then",
}
# Extra arguments that keep a command's run short or give it the input it needs.
EXTRA: dict[tuple[str, ...], list[str]] = {
    ("simulate",): ["--duration", "1", "--customers", "5"],
    ("lag",): ["--interval", "0"],
    ("rules", "publish"): ["--no-wait"],  # with Kafka up: publish, do not follow the rollout
    ("resync",): ["--timeout", "2"],  # with Redis up and no worker: not confirmed, one line
}
# Numeric options where a negative number means something.
NEGATIVE_OK = {("simulate", "--seed")}
LISTENING_TYPES = (port_number, port_or_any)
VALIDATED_TYPES = (at_least_one, non_negative, positive, port_number, port_or_any)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings]


def command_lines() -> Iterator[tuple[str, ...]]:
    """Every sub-command, once per choice of its positional choices (``rules check``, ...);
    a positional without choices (a customer id) gets a placeholder."""
    for name, parser in subcommands().items():
        lines: list[tuple[str, ...]] = [(name,)]
        for action in positionals(parser):
            values = [str(c) for c in action.choices] if action.choices else ["nobody"]
            lines = [(*line, value) for line in lines for value in values]
        yield from lines


def key(line: Sequence[str]) -> tuple[str, ...]:
    """A command line without its placeholder: how the tables above name it."""
    return tuple(word for word in line if word != "nobody")


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    def lines(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    def assert_clean(self) -> None:
        """A documented exit code, no traceback, and a failure is one line naming segstream."""
        shown = f"exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        assert self.code in DOCUMENTED, shown
        assert "Traceback" not in self.stdout + self.stderr, shown
        assert len(self.lines(self.stderr)) <= 1, shown
        if self.code not in (EXIT_OK, EXIT_UNHEALTHY, EXIT_INTERRUPTED):
            assert self.lines(self.stderr)[0].startswith("segstream: "), shown


def dead_stack_env(tmp_path: Path) -> dict[str, str]:
    """Kafka, Redis and the worker web port on closed loopback ports; a private stack dir."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "vip.yaml").write_text(
        "segments:\n  - {id: vip, name: VIP, description: d, condition: 'orders_lifetime >= 1'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")}
    return {
        **env,
        "PYTHONUNBUFFERED": "1",  # a long-running command's first line shows at once
        "SEGSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "SEGSTREAM_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SEGSTREAM_WEB_PORT": str(free_port()),
        "SEGSTREAM_STACK_DIR": str(tmp_path / "stack"),
        "SEGSTREAM_DATA_DIR": str(tmp_path / "data"),
        "SEGSTREAM_RULES_DIR": str(rules_dir),
        "SEGSTREAM_DEPENDENCY_TIMEOUT_S": "1",
    }


def run(args: Sequence[str], env: dict[str, str], *, long_running: bool = False) -> Outcome:
    """Run ``segstream ARGS``; a long-running command is stopped with SIGINT (Ctrl-C) once it
    has said something (or as soon as it exits by itself)."""
    command = [sys.executable, "-m", "streams.cli", *args]
    if not long_running:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=GUARD_S, check=False
        )
        return Outcome(done.returncode, done.stdout, done.stderr)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        _answer_ctrl_c()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        try:
            wait_for_output(process, out, err)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            process.wait(GUARD_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        err.seek(0)
        return Outcome(process.returncode, out.read(), err.read())


def _answer_ctrl_c() -> None:
    """SIGINT handled here, so that the commands started get it as at a terminal: a suite started
    as a background job of a script ignores SIGINT, and so would every command it starts, which
    then never ends at Ctrl-C (a handled signal is reset to its default in a child)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def wait_for_output(process: subprocess.Popen[str], *files: IO[str]) -> None:
    """Until the process wrote a line to one of ``files`` or exited (GUARD_S at most)."""
    deadline = time.monotonic() + GUARD_S
    while process.poll() is None and time.monotonic() < deadline:
        if any(os.fstat(f.fileno()).st_size for f in files):
            time.sleep(0.5)  # let the rest of its line (and what follows at once) arrive
            return
        time.sleep(0.1)


def runnable(line: tuple[str, ...]) -> bool:
    return key(line) not in NOT_RUN


def run_command_line(
    line: tuple[str, ...], env: dict[str, str], tmp_path: Path, long_running: set[tuple[str, ...]]
) -> Outcome:
    """Run one walked command line with what it needs to get going; check it ends cleanly."""
    args = [*line, *EXTRA.get(key(line), [])]
    if key(line) == ("storefront",):
        args += ["--port", str(free_port())]
    if key(line) == ("rules", "preview"):
        (tmp_path / "events.jsonl").write_text("")
        args += ["--events", str(tmp_path / "events.jsonl")]
    outcome = run(args, env, long_running=key(line) in long_running)
    outcome.assert_clean()
    return outcome


RUNNABLE = [line for line in command_lines() if runnable(line)]


@pytest.mark.parametrize("line", RUNNABLE, ids=" ".join)
def test_every_command_with_kafka_and_redis_down_ends_in_one_line(
    line: tuple[str, ...], tmp_path: Path
) -> None:
    run_command_line(line, dead_stack_env(tmp_path), tmp_path, set(LONG_RUNNING))


def test_the_walk_covers_every_sub_command_and_excludes_only_what_it_says() -> None:
    lines = list(command_lines())
    assert {line[0] for line in lines} == set(subcommands())
    assert ("rules", "status") in lines  # rules' actions come from streams/rules_cli.py
    assert set(NOT_RUN) <= {key(line) for line in lines}
    assert set(LONG_RUNNING) <= {key(line) for line in lines}


NUMERIC_TYPES = (int, float, *VALIDATED_TYPES)


def numeric_options() -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    """(command line, option) for every option that takes a number; the command line is the
    one whose action the option's help names (``publish: wait at most``), else the first."""
    lines = list(command_lines())
    for name, parser in subcommands().items():
        own = [line for line in lines if line[0] == name]
        for action in parser._actions:
            if action.option_strings and action.type in NUMERIC_TYPES:
                named = (action.help or "").split(":")[0]
                yield next((line for line in own if named in line[1:]), own[0]), action


def option_cases() -> Iterator[tuple[tuple[str, ...], str, str]]:
    """(command line, option, bad value): a non-number for every numeric option, a negative
    number where none is meaningful, 80000 for ports."""
    for line, action in numeric_options():
        option = action.option_strings[-1]
        yield line, option, "x"
        if (line[0], option) not in NEGATIVE_OK:
            yield line, option, "-5"
        if action.type in LISTENING_TYPES:
            yield line, option, "80000"


def option_case_params() -> list[object]:
    params: list[object] = []
    for line, option, value in option_cases():
        params.append(pytest.param(line, option, value, id=f"{' '.join(line)} "
                                   f"{option} {value}"))  # fmt: skip
    return params


@pytest.mark.parametrize(("line", "option", "value"), option_case_params())
def test_an_invalid_number_is_a_usage_error(
    line: tuple[str, ...],
    option: str,
    value: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if key(line) in NOT_RUN:  # accepted by mistake, it would start a stack: parse it here only
        with pytest.raises(SystemExit) as exited:
            _parser().parse_args([*line, option, value])
        assert exited.value.code == EXIT_USAGE
        assert f"error: argument {option}" in capsys.readouterr().err
        return
    env = dead_stack_env(tmp_path)
    outcome = run([*line, option, value], env)
    shown = f"exit {outcome.code}\nstderr:\n{outcome.stderr}"
    assert outcome.code == EXIT_USAGE, shown
    assert "Traceback" not in outcome.stderr, shown
    assert f"error: argument {option}" in outcome.stderr, shown
    assert len(outcome.lines(outcome.stderr)) <= 8, shown  # argparse's usage, then its error


def listening_cases() -> list[tuple[tuple[str, ...], str]]:
    """(command line, how its port is set): a port option, or SEGSTREAM_WEB_PORT for a worker."""
    cases: list[tuple[tuple[str, ...], str]] = [(("worker",), "SEGSTREAM_WEB_PORT")]
    for line, action in numeric_options():
        if action.type in LISTENING_TYPES:
            cases.append((line, action.option_strings[-1]))
    return cases


@pytest.mark.parametrize(("line", "setting"), listening_cases(), ids=lambda v: " ".join(v)
                         if isinstance(v, tuple) else v)  # fmt: skip
def test_a_taken_port_is_one_line_naming_the_port_and_its_setting(
    line: tuple[str, ...], setting: str, tmp_path: Path
) -> None:
    env = dead_stack_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = list(line)
        if setting.startswith("--"):
            args += [setting, str(port)]
        else:
            env[setting] = str(port)
        if key(line) in NOT_RUN:
            # Should its port check ever go, it would start a stack: Redis's port taken too makes
            # `segstream dev up` refuse before it starts anything.
            env["SEGSTREAM_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        outcome = run(args, env)
    outcome.assert_clean()
    assert outcome.code == EXIT_UNAVAILABLE
    assert f"127.0.0.1:{port} (in use)" in outcome.stderr
    assert setting in outcome.stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `| head -0` would be
    try:
        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", "features"],
            env=dead_stack_env(tmp_path), stdout=write_end, stderr=subprocess.PIPE, text=True,
            timeout=GUARD_S, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert done.stderr == ""


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    outcome = run(["--help"], dead_stack_env(tmp_path))
    assert outcome.code == EXIT_OK
    assert "exit codes:" in outcome.stdout
    for code in (EXIT_UNHEALTHY, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE):
        assert f"\n  {code} " in outcome.stdout


def test_a_worker_with_bad_settings_or_rule_files_says_so_in_one_line(tmp_path: Path) -> None:
    env = dead_stack_env(tmp_path)
    outcome = run(["worker"], {**env, "SEGSTREAM_WEB_PORT": "80000"})
    outcome.assert_clean()
    assert outcome.code == EXIT_USAGE
    assert "bad setting SEGSTREAM_WEB_PORT" in outcome.stderr
    (tmp_path / "rules" / "vip.yaml").write_text("segments:\n  - {id: vip, condition: 'nope >'}\n")
    outcome = run(["worker"], env)  # Kafka and Redis are down too: the rules are checked first
    outcome.assert_clean()
    assert outcome.code == EXIT_USAGE
    assert f"SEGSTREAM_RULES_DIR {tmp_path / 'rules'} rejected: " in outcome.stderr
    assert "segstream rules check" in outcome.stderr
