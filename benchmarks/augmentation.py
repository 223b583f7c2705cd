"""Issue 5: augmentation ablation (none / dropout / thinning / generative) and copy fidelity.

    python benchmarks/augmentation.py ablation --dataset zeisel47 sim40 --seed 0 1 2
    python benchmarks/augmentation.py fidelity --dataset zeisel7 sim40 --seed 0 1 2
    python benchmarks/augmentation.py --render

``ablation``: CplMixVAE defaults with each augmentation, K = the true number of types; ACC / ARI
of the consensus types, seconds spent training the augmenter and the mixture model.
``fidelity``: a logistic regression trained on half of the real cells (log-normalised) labels the
other half, and the generative augmenter's copies of that half; the ratio of the two accuracies
must be at least 0.9. The distance of each copy from its cell is reported beside the distance
between cells.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import scvi
import torch
from common import QUIET, Results, command_line, load, run_metadata
from sklearn.linear_model import LogisticRegression
from variants import COLD_START, PAPER, variant_kwargs

import scmixvae
from scmixvae._expression import log_normalise
from scmixvae.augment import GenerativeAugmenter
from scmixvae.train._augmenter_fit import AugmenterFit

RESULTS = Results("augmentation")
AUGMENTATIONS = ["none", "dropout", "thinning", "generative"]
#: The mixture model's settings: the package defaults, or the paper's (coupling weight 1, ...).
# "defaults": the cold start, the default when these results were measured.
CONFIGS = {"defaults": COLD_START, "paper": variant_kwargs({})}


def _write(row: dict) -> None:
    RESULTS.append(row | run_metadata())


def ablation(dataset: str, augmentation: str, seed: int, fit_kwargs: dict, config: str) -> None:
    adata, label_key = load(dataset)
    k = adata.obs[label_key].nunique()
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model_kwargs = dict(CONFIGS[config])
    train_kwargs = model_kwargs.pop("train_kwargs", {})
    model = scmixvae.CplMixVAE(adata, n_categories=k, augmentation=augmentation, **model_kwargs)
    start = time.perf_counter()
    augmenter_s = 0.0
    if augmentation == "generative":
        AugmenterFit(model, fit_kwargs).on_fit_start(None, model.module)
        augmenter_s = time.perf_counter() - start
    model.train(accelerator="cpu", **QUIET, **train_kwargs)
    mixture_s = time.perf_counter() - start - augmenter_s
    types = model.get_cell_types().astype(str).to_numpy()
    reference = adata.obs[label_key].astype(str).to_numpy()
    _write(
        {
            "kind": "ablation",
            "dataset": dataset,
            "config": config,
            "augmentation": augmentation,
            "seed": seed,
            "acc": scmixvae.tl.matched_accuracy(types, reference),
            "ari": scmixvae.tl.adjusted_rand_index(types, reference),
            "augmenter_s": round(augmenter_s, 1),
            "mixture_s": round(mixture_s, 1),
            "augmenter_kwargs": fit_kwargs,
        }
    )


def _log_normalised(x: np.ndarray) -> np.ndarray:
    cells = torch.as_tensor(x)
    return log_normalise(cells, cells.sum(1, keepdim=True)).numpy()


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance between matching rows."""
    return float(np.linalg.norm(a - b, axis=1).mean())


def fidelity(dataset: str, seed: int, fit_kwargs: dict) -> None:
    adata, label_key = load(dataset)
    counts = adata.layers["counts"].toarray().astype(np.float32)
    labels = adata.obs[label_key].astype(str).to_numpy()
    order = np.random.default_rng(seed).permutation(len(labels))
    train, held_out = order[::2], order[1::2]
    classifier = LogisticRegression(max_iter=3000).fit(
        _log_normalised(counts[train]), labels[train]
    )
    real_accuracy = classifier.score(_log_normalised(counts[held_out]), labels[held_out])
    torch.manual_seed(seed)
    augmenter = GenerativeAugmenter(n_input=counts.shape[1])
    start = time.perf_counter()
    history = augmenter.fit(counts, **{"seed": seed} | fit_kwargs)
    fit_s = time.perf_counter() - start
    augmenter.freeze()
    cells = torch.from_numpy(counts[held_out])
    copies = augmenter(cells, n_arms=1)[0].numpy()
    copy_accuracy = classifier.score(_log_normalised(copies), labels[held_out])
    real = _log_normalised(counts[held_out])
    # How far the copies move before their counts are drawn, and how far drawing Poisson counts
    # around the cell itself moves it: the two parts of `copy_distance`.
    with torch.no_grad():
        expression = augmenter.expression(cells)
        generated = augmenter.generate(
            expression, augmenter.noise_scale * augmenter.draw_noise(len(cells), cells)
        )
    resampled = _log_normalised(torch.poisson(cells).numpy())
    _write(
        {
            "kind": "fidelity",
            "dataset": dataset,
            "seed": seed,
            "real_accuracy": real_accuracy,
            "copy_accuracy": copy_accuracy,
            "ratio": copy_accuracy / real_accuracy,
            "generated_distance": _mean_distance(generated.numpy(), expression.numpy()),
            "resample_distance": _mean_distance(resampled, real),
            "copy_distance": _mean_distance(_log_normalised(copies), real),
            "cell_distance": _mean_distance(np.roll(real, 1, axis=0), real),
            "augmenter_s": round(fit_s, 1),
            "augmenter_epochs": len(history["adversarial"]),
            "augmenter_kwargs": fit_kwargs,
        }
    )


def render() -> None:
    rows = RESULTS.rows()

    def fmt(series):
        return f"{series.mean():.3f} ± {series.std(ddof=0):.3f}"

    lines = [
        "# Augmentation: ablation and fidelity of the generative augmenter (issue 5)",
        "",
        "Generated by `python benchmarks/augmentation.py --render` from",
        "`results/augmentation.jsonl`; mean ± s.d. over seeds.",
        "",
        "Ablation: CplMixVAE with K = the true number of types and each augmentation, under",
        f"the package defaults or the paper's settings (`{PAPER}`).",
        "Seconds: training the augmenter, then the mixture model (one thread). Augmenter",
        "epochs `default`: about 100,000 cells seen (sim40: 20, Zeisel 47: 36).",
        "",
        "| dataset | settings | augmentation | augmenter epochs | seeds | ACC | ARI |"
        " augmenter s | mixture s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ablations = rows[rows.kind == "ablation"].copy()
    ablations["config"] = ablations.get("config", pd.Series(index=ablations.index)).fillna(
        "defaults"
    )
    ablations["augmenter_epochs"] = [
        "" if augmentation != "generative" else str(kwargs.get("max_epochs", "default"))
        for augmentation, kwargs in zip(
            ablations.augmentation, ablations.augmenter_kwargs, strict=True
        )
    ]
    setting = ["dataset", "config", "augmentation", "augmenter_epochs"]
    ablations = ablations.drop_duplicates([*setting, "seed"], keep="last")
    for (dataset, config, augmentation, epochs), group in ablations.groupby(setting):
        lines.append(
            f"| {dataset} | {config} | {augmentation} | {epochs} | "
            f"{','.join(map(str, sorted(group.seed)))} | "
            f"{fmt(group.acc)} | {fmt(group.ari)} | {group.augmenter_s.mean():.0f} | "
            f"{group.mixture_s.mean():.0f} |"
        )
    fidelities = rows[rows.kind == "fidelity"].copy()
    # The first rows predate the epochs field; they ran the then-default 200 epochs.
    fidelities["augmenter_epochs"] = fidelities["augmenter_epochs"].fillna(200).astype(int)
    fidelities["batch"] = [
        (kwargs if isinstance(kwargs, dict) else {}).get("batch_size", 1000)
        for kwargs in fidelities["augmenter_kwargs"]
    ]
    setting = ["dataset", "augmenter_epochs", "batch"]
    fidelities = fidelities.drop_duplicates([*setting, "seed"], keep="last")

    def distance(series):
        return "—" if series.isna().all() else f"{series.mean():.1f}"

    lines += [
        "",
        "Fidelity: a classifier trained on real cells labels held-out cells and their copies.",
        "Distances (log-normalised expression, mean over cells): the generator's output before",
        "counts are drawn; Poisson counts drawn around the cell itself (no generator); the copy",
        "the arms see; and another cell.",
        "",
        "| dataset | epochs | batch | seeds | classifier on real cells | on copies |"
        " ratio (≥ 0.9) | generated ↔ cell | Poisson ↔ cell | copy ↔ cell | cell ↔ cell |"
        " augmenter s | threads |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, epochs, batch), group in fidelities.groupby(setting):
        lines.append(
            f"| {dataset} | {epochs} | {batch} | {','.join(map(str, sorted(group.seed)))} | "
            f"{fmt(group.real_accuracy)} | {fmt(group.copy_accuracy)} | {fmt(group.ratio)} | "
            f"{distance(group.get('generated_distance', pd.Series(dtype=float)))} | "
            f"{distance(group.get('resample_distance', pd.Series(dtype=float)))} | "
            f"{distance(group.copy_distance)} | {distance(group.cell_distance)} | "
            f"{group.augmenter_s.mean():.0f} | {group.threads.iloc[-1]} |"
        )
    RESULTS.write_table(lines, rows)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("kind", nargs="?", choices=["ablation", "fidelity"])
    parser.add_argument("--dataset", nargs="+", default=["zeisel47", "sim40"])
    parser.add_argument("--augmentation", nargs="+", default=AUGMENTATIONS)
    parser.add_argument("--seed", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--augmenter-kwargs", type=json.loads, default={}, help="JSON, passed to fit()"
    )
    parser.add_argument("--config", choices=CONFIGS, default="defaults", help="mixture settings")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.render or args.kind is None:
        render()
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    for dataset in args.dataset:
        for seed in args.seed:
            if args.kind == "fidelity":
                fidelity(dataset, seed, args.augmenter_kwargs)
                continue
            for augmentation in args.augmentation:
                ablation(dataset, augmentation, seed, args.augmenter_kwargs, args.config)


if __name__ == "__main__":
    main()
