"""Time to generate + validate 10,000 records: ``python -m fcbench.generators.perf`` (``make perf-data``).

Goal (generators issue): <= 10 s on this machine. The baseline, in the same run, validates the
same files with the record schema checked by the pure-Python ``jsonschema`` alone (the fast
path in ``benchmark.record`` uses jsonschema-rs and falls back to it only to explain errors).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from unittest import mock

import fcbench.benchmark.record as record_module
from fcbench.benchmark.suites import FCBENCH
from fcbench.generators.synth import generate
from fcbench.generators.validate import validate_files

GOAL_SECONDS = 10.0


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


class _ReferenceOnly:
    def is_valid(self, obj: object) -> bool:
        return record_module.record_validator().is_valid(obj)


def main(n: int = 10_000) -> None:
    against = FCBENCH.frozen().path
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t_generate, _ = timed(generate, n, 0, out)
        files = [out / "train.jsonl", out / "validation.jsonl"]
        t_validate, reports = timed(validate_files, files, against=against)
        with mock.patch.object(record_module, "_fast_record_validator", lambda: _ReferenceOnly()):
            t_baseline, _ = timed(validate_files, files, against=against)
    rejected = sum(len(r.rejects) for r in reports)
    total = t_generate + t_validate
    print(f"generate {n:,} records: {t_generate:6.2f} s")
    print(f"validate them against the benchmark: {t_validate:6.2f} s ({rejected} rejected)")
    print(f"total {total:.2f} s; goal <= {GOAL_SECONDS:.0f} s: {'met' if total <= GOAL_SECONDS else 'NOT met'}")
    print(f"validation with the pure-Python jsonschema only: {t_baseline:6.2f} s (fcbench is {t_baseline / t_validate:.2f}x faster)")


if __name__ == "__main__":
    main()
