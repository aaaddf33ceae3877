"""What fcbench prints, and what it keeps third-party libraries from printing.

- One pair of consoles for every command. On a terminal they take its width; in a log file or a
  pipe (no terminal) they are wide enough for every table, where rich would otherwise cut
  columns at 80 characters.
- :func:`quiet_libraries` silences the progress bars, advisories and warnings of the libraries
  fcbench drives (transformers, huggingface_hub, datasets, lm-eval's tqdm bars, bitsandbytes),
  unless ``--verbose``. fcbench's own warnings still show.
- :class:`SteadyProgress` is rich's progress bar on a terminal and, in a log, one plain line per
  task every ``LOG_INTERVAL_S`` seconds: a log that is not a terminal shows the run moving.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

LOG_WIDTH = 200
"""Columns of a console that writes to a file or a pipe: enough for the widest table."""

LOG_INTERVAL_S = 30.0
"""Seconds between progress lines in a log."""


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = LOG_WIDTH
    return console


console = _console()
err_console = _console(stderr=True)

_QUIET_ENVIRONMENT = {
    "TQDM_DISABLE": "1",  # lm-eval's request building and cache checks, datasets' maps
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights", downloads
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "BITSANDBYTES_NOWELCOME": "1",
}

_NOISY_LOGGERS = ("transformers", "huggingface_hub", "datasets", "accelerate", "peft", "trl", "lm-eval", "lm_eval", "bitsandbytes", "torch")


def quiet_libraries() -> None:
    """Silence the libraries fcbench drives. Environment variables are read when a library is
    first imported, so this runs before any of them is (the commands import them lazily); a
    variable the user set keeps the user's value."""
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    # fcbench's own warnings are messages for the user: they stay (a later filter wins)
    warnings.filterwarnings("default", module=r"fcbench(\.|$)")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(description: str, completed: float, total: float | None, elapsed: float | None, remaining: float | None) -> str:
    """``eval smollm2-0shot: 48/200 (24 %), 0:02:01 elapsed, about 0:06:20 left``."""
    if not total:
        return f"{description}: {completed:.0f} done, {_clock(elapsed)} elapsed"
    left = f", about {_clock(remaining)} left" if remaining is not None and completed < total else ""
    return f"{description}: {completed:.0f}/{total:.0f} ({100 * completed / total:.0f} %), {_clock(elapsed)} elapsed{left}"


class SteadyProgress(Progress):
    """rich's Progress; where the console is no terminal (a log file, CI), a line per visible
    task every ``interval`` seconds instead of a bar that would only show at the end."""

    def __init__(self, *columns: Any, label: str = "", interval: float = LOG_INTERVAL_S, **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self.label = label
        self.interval = interval
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        if not self.console.is_terminal and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="fcbench-progress-lines", daemon=True)
            self._ticker.start()

    def stop(self) -> None:
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
            self.print_lines()
        super().stop()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.print_lines()

    def print_lines(self) -> None:
        for task in self.tasks:
            if task.visible and not task.finished_time:
                description = f"{self.label} {task.description}".strip()
                self.console.print(progress_line(description, task.completed, task.total, task.elapsed, task.time_remaining),
                                   markup=False, highlight=False, soft_wrap=True)


def item_progress(label: str, target: Console | None = None, transient: bool = False) -> SteadyProgress:
    """The progress of a run over items: label, bar, done/total, elapsed, time left."""
    columns = (TextColumn(escape(label), style="bold"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    return SteadyProgress(*columns, label=label, console=target or console, transient=transient)
