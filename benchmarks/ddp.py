"""Issues 7 and 32: does data-parallel training (Lightning DDP, 2 CPU processes, gloo) at the
defaults give the model of one process?

    python benchmarks/ddp.py --seed 0 1 2   # both settings per seed -> results/ddp.jsonl
    python benchmarks/ddp.py --render

Each setting runs in its own ``python benchmarks/ddp.py one ...`` process (DDP restarts the
script it runs in). Data: ``simulate(3,000 cells, 10 types, 1,000 genes)``; CplMixVAE defaults,
batch 256 per process, the default number of epochs, so both settings see the data equally
often and the 2-process run takes half as many (twice as large) steps; a third setting gives
DDP twice the epochs, so that it takes as many steps as one process. Each DDP process
fits the start's clustering and merges on its own: they must end with the same weights, which
every process checks by a fingerprint of its weights and buffers; the row records whether they
matched, and the types, to compare the settings' types cell by cell.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scvi
import torch
from common import QUIET, Results, command_line, run_metadata
from sklearn.metrics import adjusted_rand_score

import scmixvae
from scmixvae.model._training import default_max_epochs

RESULTS = Results("ddp")
# name: (processes, threads per process, epochs as a multiple of the default, batch size)
SETTINGS = {
    "1 process, 2 threads": (1, 2, 1, 256),
    "1 process, 2 threads, batch 512 (DDP's step size)": (1, 2, 1, 512),
    "DDP, 2 processes x 1 thread": (2, 1, 1, 256),
    "DDP, 2 processes x 1 thread, 2x epochs (as many steps as 1 process)": (2, 1, 2, 256),
}


def fingerprint(module) -> str:
    """SHA-256 of every weight and buffer of ``module``, in state-dict order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def ranks_agree(folder: Path, devices: int, rank: int, mine: str) -> bool | None:
    """Write this process's fingerprint; on rank 0, whether every rank's is the same."""
    (folder / f"rank{rank}.txt").write_text(mine)
    if rank != 0 or devices == 1:
        return None
    deadline = time.monotonic() + 120
    paths = [folder / f"rank{other}.txt" for other in range(devices)]
    while not all(path.exists() for path in paths) and time.monotonic() < deadline:
        time.sleep(1)
    return all(path.exists() and path.read_text() == mine for path in paths)


def train_one(
    devices: int, threads: int, seed: int, epoch_factor: int, batch_size: int, folder: Path
) -> None:
    torch.set_num_threads(threads)
    adata = scmixvae.datasets.simulate(n_cells=3000, n_types=10, n_genes=1000, seed=seed)
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=10)
    start = time.perf_counter()
    extra = {"strategy": "ddp"} if devices > 1 else {}
    epochs = epoch_factor * default_max_epochs(adata.n_obs)
    model.train(
        max_epochs=epochs,
        batch_size=batch_size,
        accelerator="cpu",
        devices=devices,
        **extra,
        **QUIET,
    )
    seconds = time.perf_counter() - start
    rank = int(os.environ.get("LOCAL_RANK", 0))
    agree = ranks_agree(folder, devices, rank, fingerprint(model.module))
    if rank != 0:
        return
    types = model.get_cell_types().astype(str).to_numpy()
    reference = adata.obs["type"].astype(str).to_numpy()
    row = {
        "devices": devices,
        "threads_per_process": threads,
        "epoch_factor": epoch_factor,
        "batch_size": batch_size,
        "seed": seed,
        "epochs": len(model.history["train_loss"]),
        "acc": scmixvae.tl.matched_accuracy(types, reference),
        "ari": scmixvae.tl.adjusted_rand_index(types, reference),
        "train_s": round(seconds, 1),
        "ranks_agree": agree,
        "types": types.tolist(),
        **run_metadata(),
    }
    RESULTS.append(row)


def setting_table(rows: pd.DataFrame) -> list[str]:
    """Markdown rows, one per setting, of the runs ``rows`` (one start)."""
    reference = rows[(rows.devices == 1) & (rows.batch_size == 512)].set_index("seed")
    lines = [
        "| setting | seeds | epochs | ACC | ARI | training s | processes' weights equal "
        "| ARI to 1 process, batch 512 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (devices, _, factor, batch) in SETTINGS.items():
        group = rows[
            (rows.devices == devices) & (rows.epoch_factor == factor) & (rows.batch_size == batch)
        ]
        if group.empty:
            continue
        agree = group.ranks_agree.dropna() if "ranks_agree" in group else pd.Series()
        same_types = [
            adjusted_rand_score(reference.types[row.seed], row.types)
            for _, row in group.iterrows()
            if isinstance(row.get("types"), list) and row.seed in reference.index
        ]
        lines.append(
            f"| {name} | {','.join(map(str, sorted(group.seed)))} | {group.epochs.iloc[0]} | "
            f"{group.acc.mean():.3f} ± {group.acc.std(ddof=0):.3f} | "
            f"{group.ari.mean():.3f} ± {group.ari.std(ddof=0):.3f} | {group.train_s.mean():.0f} "
            f"| {f'{int(agree.sum())} of {len(agree)} runs' if len(agree) else ''} "
            f"| {f'{np.mean(same_types):.3f}' if same_types else ''} |"
        )
    return lines


def render() -> None:
    rows = RESULTS.rows()
    rows["epoch_factor"] = rows.get("epoch_factor", pd.Series(index=rows.index)).fillna(1)
    rows["batch_size"] = rows.get("batch_size", pd.Series(index=rows.index)).fillna(256)
    # Rows without types ran the cold start, the default when they were measured.
    defaults = rows.types.notna() if "types" in rows else pd.Series(False, index=rows.index)
    key = ["devices", "epoch_factor", "batch_size", "seed"]
    lines = [
        "# Data-parallel training: DDP on 2 CPU processes against 1 process (issues 7, 32)",
        "",
        "Generated by `python benchmarks/ddp.py --render` from `results/ddp.jsonl`. Data:",
        "`simulate(n_cells=3000, n_types=10, n_genes=1000, seed)`; CplMixVAE (K = 10, 2 arms),",
        "batch 256 per process, default epochs; ACC / ARI of the consensus types against the",
        "simulated types; mean ± s.d. over seeds. `processes' weights equal`: every process",
        "ended with the same weights and buffers (SHA-256), so each fitted the same start and",
        "made the same merge. `ARI to 1 process, batch 512`: agreement of the setting's types",
        "with those of one process taking steps of DDP's size, same seed.",
        "",
        "## The defaults (the over-clustering start)",
        "",
        *setting_table(rows[defaults].drop_duplicates(key, keep="last")),
        "",
        '## The cold start (`initialization="random"`), the default when these rows ran',
        "",
        *setting_table(rows[~defaults].drop_duplicates(key, keep="last")),
    ]
    RESULTS.write_table(lines, rows)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("mode", nargs="?", default="all", choices=["all", "one"])
    parser.add_argument("--seed", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--devices", type=int, default=1, help="with `one`")
    parser.add_argument("--threads", type=int, default=2, help="with `one`")
    parser.add_argument("--epoch-factor", type=int, default=1, help="with `one`")
    parser.add_argument("--batch-size", type=int, default=256, help="with `one`")
    parser.add_argument("--fingerprints", type=Path, default=None, help="with `one`")
    args = parser.parse_args()
    if args.render:
        render()
    elif args.mode == "one":
        one = (args.devices, args.threads, args.seed[0], args.epoch_factor, args.batch_size)
        train_one(*one, args.fingerprints)
    else:
        for seed in args.seed:
            for devices, threads, factor, batch in SETTINGS.values():
                command = [sys.executable, __file__, "one", "--seed", str(seed)]
                command += ["--devices", str(devices), "--threads", str(threads)]
                command += ["--epoch-factor", str(factor), "--batch-size", str(batch)]
                env = os.environ | {"OMP_NUM_THREADS": str(threads)}
                with tempfile.TemporaryDirectory(prefix="scmixvae_ddp_") as folder:
                    subprocess.run([*command, "--fingerprints", folder], check=True, env=env)


if __name__ == "__main__":
    main()
