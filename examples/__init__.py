"""Example files shipped with fcbench: a tiny benchmark and raw predictions for ``fcbench score``."""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
