"""``fcbench train --emit-slurm FILE``: a SLURM batch script that runs the same training on a
cluster (e.g. UF's HiPerGator): one ``accelerate launch`` per node, all GPUs of all nodes in one
data-parallel job, ready for ``sbatch``."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from fcbench.trainers.config import DDP_ACCELERATE_CONFIG


@dataclass(slots=True)
class SlurmSettings:
    job_name: str
    nodes: int = 1
    gpus_per_node: int = 1
    gpu_type: str | None = None
    """e.g. ``a100`` on HiPerGator, where GPUs are requested as ``--gpus-per-node=a100:N``."""
    cpus_per_gpu: int = 8
    memory_per_gpu: str = "64gb"
    time: str = "08:00:00"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    modules: list[str] = field(default_factory=lambda: ["cuda"])
    venv: str = ".venv"
    accelerate_config: str = str(DDP_ACCELERATE_CONFIG)
    port: int = 29500


def slurm_script(settings: SlurmSettings, train_args: Sequence[str]) -> str:
    """The batch script; ``train_args`` are ``fcbench train``'s own arguments (config, --set, --out)."""
    s = settings
    gpus = f"{s.gpu_type}:{s.gpus_per_node}" if s.gpu_type else str(s.gpus_per_node)
    directives = [
        f"--job-name={s.job_name}",
        f"--nodes={s.nodes}",
        "--ntasks-per-node=1",  # one accelerate launcher per node; it starts one process per GPU
        f"--gpus-per-node={gpus}",
        f"--cpus-per-task={s.cpus_per_gpu * s.gpus_per_node}",
        f"--mem={_times(s.memory_per_gpu, s.gpus_per_node)}",
        f"--time={s.time}",
        # In the submission folder itself: SLURM opens this file before the script runs, so a
        # folder the script would create (logs/) does not exist yet on a fresh checkout.
        f"--output={s.job_name}-%j.out",
    ]
    directives += [f"--{key}={value}" for key, value in (("partition", s.partition), ("account", s.account), ("qos", s.qos)) if value]
    launch = " ".join([
        "accelerate launch",
        f"--config_file {shlex.quote(s.accelerate_config)}",
        "--num_machines $SLURM_NNODES",
        f"--num_processes $(( SLURM_NNODES * {s.gpus_per_node} ))",
        "--machine_rank $SLURM_NODEID",
        "--main_process_ip $MAIN_ADDR",
        f"--main_process_port {s.port}",
        "-m fcbench.cli train",
        *(shlex.quote(arg) for arg in train_args),
    ])
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {d}" for d in directives),
        "",
        "# Written by `fcbench train --emit-slurm`; submit with `sbatch` from the repository root.",
        "set -euo pipefail",
        *(f"module load {shlex.quote(m)}" for m in s.modules),
        f"source {shlex.quote(s.venv)}/bin/activate",
        'export MAIN_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-8}",
        "# Single quotes: each node's task expands its own $SLURM_NODEID.",
        f"srun bash -c {shlex.quote(launch)}",
        "",
    ]
    return "\n".join(lines)


def _times(amount: str, n: int) -> str:
    digits = "".join(ch for ch in amount if ch.isdigit())
    return f"{int(digits) * n}{amount[len(digits):]}" if digits and amount.startswith(digits) else amount
