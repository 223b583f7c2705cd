"""Regenerate the benchmark tables that measure the package's defaults, in one command.

    python benchmarks/regenerate.py           # the full runs: hours on 2 CPU cores
    python benchmarks/regenerate.py --quick   # minutes: small data, one seed, a scratch folder
    python benchmarks/regenerate.py --only accuracy pruning   # some of the full mode's steps

The full mode appends the default rows of every table (cell types against the baselines,
the state's traversals and what it recovers, choosing K, the latent space, throughput,
the start's fixed cost, data-parallel training and a million cells) to ``results/`` and
renders every table, the retired rows of ``tried.md`` included.
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

#: The steps of the full mode, ``(name, script and arguments)``, one after another. The
#: timings come first; the baselines last, as they do not depend on the package's commit.
FULL = [
    ("throughput", ["throughput.py", "--epochs", "3"]),
    ("start_cost", ["start_cost.py", "--cells", "10000", "20000", "100000"]),
    ("ddp", ["ddp.py", *SEEDS]),
    ("accuracy", ["accuracy.py", "--dataset", "all", "--method", "cplmix_a2", *SEEDS]),
    ("traversal", ["traversal.py", "--dataset", "sim10", "sim40", "--variant", "default", *SEEDS]),
    (
        "state_recovery",
        ["state_recovery.py", "--dataset"]
        + [f"prog{genes}s{seed}" for genes in (15, 30, 60) for seed in range(3)]
        + ["--seed", "0"],
    ),
    ("state_recovery", ["state_recovery.py", "--dataset", "sim10", *SEEDS]),
    ("pruning", ["pruning.py", "--dataset", "sim30", "zeisel47", "--start", "defaults", *SEEDS]),
    ("embedding", ["embedding.py", *SEEDS]),
    ("arms", ["accuracy.py", "--dataset", "all", "--method", "cplmix_a1", "cplmix_a3", *SEEDS]),
    ("baselines", ["accuracy.py", "--dataset", "all", "--method", *BASELINES, *SEEDS]),
    # Last: about two hours for the full default training of a million cells.
    ("scale", ["scale.py", "suite", "--cells", "100000", "1000000"]),
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
    "ddp.py",
    "scale.py",
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
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted({name for name, _ in FULL}),
        help="the full mode's named steps only, and their tables",
    )
    args = parser.parse_args()
    env = dict(os.environ)
    if args.quick:
        out = args.out or Path(tempfile.mkdtemp(prefix="scmixvae_benchmarks_"))
        env["SCMIXVAE_BENCHMARK_OUT"] = str(out)
        steps, rendered = QUICK, [step[0] for step in QUICK]
    elif args.only:
        steps = [step for name, step in FULL if name in args.only]
        rendered = list(dict.fromkeys(step[0] for step in steps))
    else:
        steps, rendered = [step for _, step in FULL], RENDERED
    for step in steps:
        run(step, env)
    for script in rendered:
        run([script, "--render"], env)
    if args.quick:
        print(f"quick tables in {out}")


if __name__ == "__main__":
    main()
