"""Regenerate the benchmark tables that measure the package's defaults, in one command.

    python benchmarks/regenerate.py           # the full runs: hours on 2 CPU cores
    python benchmarks/regenerate.py --quick   # minutes: small data, one seed, a scratch folder

The full mode appends the default rows of every table (cell types against the baselines,
the state's traversals and what it recovers, choosing K, the latent space, throughput and
the start's fixed cost) to ``results/`` and renders every table, the retired rows of
``tried.md`` included.
The quick mode runs one small case of each into ``--out`` (``SCMIXVAE_BENCHMARK_OUT``), so
the committed results are never touched: a check that every benchmark still runs.
Each step is a script of this folder, run as its own process, one after another.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
SEEDS = ["--seed", "0", "1", "2"]
BASELINES = ["pca_leiden_r1", "pca_leiden_k", "pearson_leiden_k", "scvi_leiden_k", "scvi_kmeans_k"]

#: The default rows of every table that measures the package's defaults.
FULL = [
    ["accuracy.py", "--dataset", "all", "--method", "cplmix_a2", "cplmix_a1", "cplmix_a3"]
    + BASELINES
    + SEEDS,
    ["traversal.py", "--dataset", "sim10", "sim40", "--variant", "default", *SEEDS],
    ["state_recovery.py", "--dataset"]
    + [f"prog{genes}s{seed}" for genes in (15, 30, 60) for seed in range(3)]
    + ["--seed", "0"],
    ["state_recovery.py", "--dataset", "sim10", *SEEDS],
    ["pruning.py", "--dataset", "sim30", "zeisel47", "--start", "defaults", *SEEDS],
    ["embedding.py", *SEEDS],
    ["throughput.py", "--epochs", "3"],
    ["start_cost.py", "--cells", "10000", "20000", "100000"],
]
#: One small case of each, for minutes in all.
QUICK = [
    ["accuracy.py", "--dataset", "pbmc", "--method", "cplmix_a2", "pca_leiden_k", "--seed", "0"],
    ["traversal.py", "--dataset", "sim10", "--variant", "default", "--seed", "0"],
    ["state_recovery.py", "--dataset", "prog30s0", "--seed", "0"],
    ["embedding.py", "--dataset", "pbmc", "--seed", "0"],
    ["start_cost.py", "--cells", "3000"],
]
#: Tables rendered from their results after the runs (each script's ``--render``).
RENDERED = [
    "accuracy.py",
    "ablation.py",
    "traversal.py",
    "state_recovery.py",
    "pruning.py",
    "embedding.py",
    "throughput.py",
    "start_cost.py",
    "merging.py",
    "merging_graph.py",
    "fixed_point.py",
    "augmentation.py",
    "batch_norm_traversal.py",
    "paper/table1.py",
]


def run(step: list[str], env: dict) -> None:
    """Run one benchmark script with its arguments; stop everything if it fails."""
    started = time.perf_counter()
    print(f"$ python benchmarks/{' '.join(step)}", flush=True)
    subprocess.run([sys.executable, str(HERE / step[0]), *step[1:]], env=env, check=True)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small cases into a scratch folder")
    parser.add_argument("--out", type=Path, default=None, help="--quick's folder (default: temp)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.quick:
        out = args.out or Path(tempfile.mkdtemp(prefix="scmixvae_benchmarks_"))
        env["SCMIXVAE_BENCHMARK_OUT"] = str(out)
        steps, rendered = QUICK, [step[0] for step in QUICK]
    else:
        steps, rendered = FULL, RENDERED
    for step in steps:
        run(step, env)
    for script in rendered:
        run([script, "--render"], env)
    if args.quick:
        print(f"quick tables in {out}")


if __name__ == "__main__":
    main()
