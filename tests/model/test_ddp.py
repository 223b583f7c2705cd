"""Data-parallel training: Lightning's DDP with 2 CPU processes (gloo)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

WORKER = Path(__file__).parent / "scripts" / "ddp_worker.py"


def test_ddp_on_two_cpu_processes_keeps_the_replicas_identical(tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() and len(ranks[0]) > 10
    # DDP averages the gradients of the two processes, so both end with the same weights.
    for name, value in ranks[0].items():
        assert torch.allclose(value, ranks[1][name], atol=1e-6), name
    loss = pd.read_csv(tmp_path / "train_loss.csv")["train_loss"]
    assert len(loss) == 3 and loss.iloc[-1] < loss.iloc[0]
    types = pd.read_csv(tmp_path / "types.csv")
    assert len(types) == 400 and types["cplmix_type"].notna().all()
