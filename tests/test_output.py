"""What fcbench prints: progress lines in logs, consoles wide enough for a log, third-party
noise silenced unless --verbose, and help that shows no value for a flag."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from types import SimpleNamespace

from rich.console import Console
from typer.testing import CliRunner

from fcbench.cli import app
from fcbench.output import SteadyProgress, progress_line


def test_a_progress_line_says_how_far_how_long_and_how_long_still() -> None:
    assert progress_line("eval base", 48, 200, 121.0, 380.0) == "eval base: 48/200 (24 %), 0:02:01 elapsed, about 0:06:20 left"
    assert progress_line("eval base", 200, 200, 3725.0, 0.0) == "eval base: 200/200 (100 %), 1:02:05 elapsed"
    assert progress_line("writing", 7, None, 5.0, None) == "writing: 7 done, 0:00:05 elapsed"


def test_a_log_gets_progress_lines_while_the_run_goes_on() -> None:
    log = io.StringIO()
    with SteadyProgress(label="base-0shot", interval=0.05, console=Console(file=log, width=200)) as progress:
        task = progress.add_task("generating", total=10)
        progress.advance(task, 4)
        deadline = time.monotonic() + 10
        while "4/10" not in log.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "base-0shot generating: 4/10 (40 %)" in log.getvalue()


def test_training_logs_a_line_per_interval_and_one_per_validation() -> None:
    from fcbench.trainers.progress import LogLines

    now = [0.0]
    said: list[str] = []
    lines = LogLines("train quick", interval=30, clock=lambda: now[0], say=said.append)
    state = SimpleNamespace(global_step=0, max_steps=12)
    lines.on_train_begin(None, state, None)
    for step in range(1, 7):  # 10 s a step: a line after step 3 (30 s) and step 6 (60 s)
        now[0] += 10
        state.global_step = step
        lines.on_log(None, state, None, logs={"loss": 0.5 / step})
        lines.on_step_end(None, state, None)
    lines.on_log(None, state, None, logs={"eval_loss": 0.0})
    assert said == [
        # 3 of 12 steps in 30 s: 9 more take 90 s
        "train quick step: 3/12 (25 %), 0:00:30 elapsed, about 0:01:30 left, loss 0.1667",
        "train quick step: 6/12 (50 %), 0:01:00 elapsed, about 0:01:00 left, loss 0.0833",
        "train quick validation at step 6: loss 0.0000 (perplexity 1.000)",
    ]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # a log: no terminal width to take
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_libraries_are_quiet_and_fcbench_is_not() -> None:
    code = (
        "import warnings, sys\n"
        "from fcbench.output import quiet_libraries, console\n"
        "quiet_libraries()\n"
        "exec(compile('import warnings; warnings.warn(\"theirs\", FutureWarning)', 'somelib/mod.py', 'exec'), {'__name__': 'somelib.mod'})\n"
        "exec(compile('import warnings; warnings.warn(\"ours\", UserWarning)', 'fcbench/mod.py', 'exec'), {'__name__': 'fcbench.mod'})\n"
        "import os; print(os.environ['TQDM_DISABLE'], console.width)\n"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert "ours" in done.stderr and "theirs" not in done.stderr
    # stdout is a pipe here, not a terminal: wide enough that no table is cut at 80 columns
    assert done.stdout.split() == ["1", "200"]


def test_help_shows_no_value_for_a_flag() -> None:
    result = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and "--fix" in result.output and "<bool>" not in result.output
    assert "--verbose" in CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"}).output
