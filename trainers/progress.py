"""Training progress in a log: a plain line at a steady interval where no terminal shows a bar.

On a terminal the trainer shows TRL's rich progress bar. In a log file or CI that bar would
show nothing until the end, so :class:`LogLines` writes one line at most every ``interval``
seconds (at an optimizer step's end) and one for each validation.
"""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

from fcbench.output import LOG_INTERVAL_S, console, progress_line


class LogLines(TrainerCallback):
    def __init__(self, label: str, interval: float = LOG_INTERVAL_S, clock: Any = time.monotonic, say: Any = None) -> None:
        self.label = label
        self.interval = interval
        self.clock = clock
        self.say = say or (lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        self.started: float | None = None
        self.first_step = 0
        self.last_line = -math.inf
        self.loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = self.clock()
        self.first_step = state.global_step  # a resumed run: time left counts only the steps to come
        self.last_line = self.started

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" in logs:
            self.loss = logs["loss"]
        if "eval_loss" in logs:
            loss = logs["eval_loss"]
            self.say(f"{self.label} validation at step {state.global_step}: loss {loss:.4f} (perplexity {math.exp(min(loss, 50)):.3f})")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = self.clock()
        if self.started is None or now - self.last_line < self.interval:
            return
        self.last_line = now
        elapsed = now - self.started
        done = state.global_step - self.first_step
        remaining = elapsed / done * (state.max_steps - state.global_step) if done > 0 and state.max_steps else None
        line = progress_line(f"{self.label} step", state.global_step, state.max_steps or None, elapsed, remaining)
        self.say(line + (f", loss {self.loss:.4f}" if self.loss is not None else ""))
