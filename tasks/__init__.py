"""lm-evaluation-harness task folders (YAML, templates and ``utils.py``), shipped as package data
and passed to lm-eval as its ``include_path`` (:data:`TASKS_DIR`)."""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
