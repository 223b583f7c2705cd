"""Issue 33: does the state find the within-type programme in every driven type?

Trains the defaults (or a named variant) at the true K on the harder simulators of
``programme_sims.py`` (``prog<P>s<seed>``) and on the shipped simulator (``sim10``, the
regression row), matches true types to inferred types as ``traversal.py`` does, and scores
every true type with >= 50 cells in its matched type:

- ``state_rho_best``: the best |Spearman ρ| of a state dimension with the true activity,
  over the type's cells in its matched type (``traversal.py``);
- ``kl_dim<d>``: the mean KL of state dimension ``d`` to its prior over the matched type's
  cells (``model.get_state_kl``); below 0.05 nats the dimension has collapsed;
- ``sd_dim<d>``: the state's standard deviation in dimension ``d`` over those cells;
- ``depth_rho``: the largest |Spearman ρ| of a state dimension with the log total counts;
- ``cells.prog_lfc``: the programme genes' mean |log2 fold change| along the decoded
  traversal of the best dimension over the cells' range (``traversal.py``).

The table counts the *scored* types: driven (gain >= 0.5) and matched to an inferred type
that is >= 90 % that type. Target: best |ρ| >= 0.8 in >= 90 % of them; programme
|log2FC| <= 0.1 in types with gain 0; state-depth |ρ| < 0.3.

    python benchmarks/state_recovery.py --dataset prog15s0 prog30s0 prog60s0 --seed 0
    python benchmarks/state_recovery.py --dataset sim10 --seed 0 1 2
    python benchmarks/state_recovery.py --render
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import Results, dataset_seed_main, prose, run_metadata
from programme_sims import load_programme
from scipy.stats import spearmanr
from state_measures import DATASETS, PURE, match_types, measure, train
from state_variants import VARIANTS

import scmixvae

RESULTS = Results("state_recovery")
DRIVEN_GAIN = 0.5
GOOD_RHO = 0.8


def load(dataset: str):
    adata = load_programme(dataset)
    return adata if adata is not None else scmixvae.datasets.simulate(**DATASETS[dataset])


def state_measures(model, adata) -> dict[str, dict]:
    """Per true type: each dimension's KL and s.d. and the state's link to depth."""
    inferred = adata.obs["cplmix_type"]
    kl = model.get_state_kl()
    state = adata.obsm["X_cplmix_state"]
    log_depth = np.log(np.asarray(adata.layers["counts"].sum(1)).ravel())
    measures = {}
    for true_type, inferred_type in match_types(adata.obs["type"], inferred).items():
        cells = (adata.obs["type"] == true_type).to_numpy() & (inferred == inferred_type).to_numpy()
        if cells.sum() < 2:
            continue
        dims = range(state.shape[1])
        measures[true_type] = {
            **{f"kl_dim{d}": float(kl.loc[inferred_type, f"dim{d}"]) for d in dims},
            **{f"sd_dim{d}": float(state[cells, d].std()) for d in dims},
            "depth_rho": float(
                np.nanmax([abs(spearmanr(state[cells, d], log_depth[cells])[0]) for d in dims])
            ),
        }
    return measures


def run(dataset: str, variant: str, seed: int) -> dict:
    model, adata, seconds = train(load(dataset), VARIANTS[variant], seed)
    acc, per_type = measure(model, adata)
    extra = state_measures(model, adata)
    row = {
        "dataset": dataset,
        "variant": variant,
        "seed": seed,
        "acc": acc,
        "ari": scmixvae.tl.adjusted_rand_index(adata.obs["cplmix_type"], adata.obs["type"]),
        "seconds": round(seconds, 1),
        "per_type": [t | extra[t["type"]] for t in per_type],
        **run_metadata(),
    }
    return row


def family(dataset: str) -> str:
    """``prog30s1`` -> ``prog30``: the simulator without its seed."""
    return dataset.split("s", 1)[0] if dataset.startswith("prog") else dataset


def scored_types(types: pd.DataFrame) -> pd.DataFrame:
    """The types the target counts: driven, and matched to an inferred type that pure."""
    return types[(types["gain"] >= DRIVEN_GAIN) & (types["purity"] >= PURE)]


def summary(group: pd.DataFrame) -> dict:
    types = pd.concat(
        [pd.DataFrame(p).assign(run=i) for i, p in enumerate(group["per_type"])],
        ignore_index=True,
    )
    scored = scored_types(types)
    silent = types[types["gain"] == 0]
    kl = scored.filter(like="kl_dim")
    good = scored["state_rho_best"] >= GOOD_RHO
    none = "–" if scored.empty else None
    return {
        "runs": len(group),
        "ACC": f"{group['acc'].mean():.3f}",
        "scored types": len(scored),
        f"best \\|ρ\\| ≥ {GOOD_RHO}": none or f"{good.mean():.0%} ({good.sum()})",
        "mean best \\|ρ\\|": none or f"{scored['state_rho_best'].mean():.2f}",
        "worst": none or f"{scored['state_rho_best'].min():.2f}",
        "types with a collapsed dim": none or f"{(kl < 0.05).any(axis=1).mean():.0%}",
        "programme \\|log2FC\\|, gain 0 (mean, max)": (
            f"{silent['cells.prog_lfc'].mean():.2f}, {silent['cells.prog_lfc'].max():.2f}"
        ),
        "state–depth \\|ρ\\| (mean, max)": (
            f"{types['depth_rho'].mean():.2f}, {types['depth_rho'].max():.2f}"
        ),
        "train s": f"{group['seconds'].mean():.0f}",
        "commit": ",".join(sorted(group["commit"].dropna().unique())),
    }


def known_programme_rho(adata) -> dict[str, float]:
    """Per true type: |Spearman ρ| of the activity with ``Σ_j w_j x_j / depth``.

    A statistic that knows the programme's genes and weights: about as much as the counts
    say about a cell's activity, without any model.
    """
    counts = adata.layers["counts"]
    weight = adata.var["programme_weight"].to_numpy()
    score = np.asarray(counts @ weight).ravel() / np.asarray(counts.sum(1)).ravel()
    return {
        name: abs(spearmanr(score[cells], adata.obs["activity"].to_numpy()[cells])[0])
        for name, cells in adata.obs.groupby("type", observed=True).indices.items()
    }


def per_type_lines(rows: pd.DataFrame) -> list[str]:
    """Every driven, pure type of the defaults on the harder simulators, worst first."""
    defaults = rows[(rows["variant"] == "default") & rows["dataset"].str.startswith("prog")]
    types = pd.concat(
        [pd.DataFrame(r.per_type).assign(dataset=r.dataset) for r in defaults.itertuples()],
        ignore_index=True,
    )
    types = scored_types(types)
    known = {dataset: known_programme_rho(load(dataset)) for dataset in types["dataset"].unique()}
    header = ["data", "type", "cells", "gain", "purity", "best \\|ρ\\|", "KL (dims)", "s.d. (dims)"]
    header += ["state–depth \\|ρ\\|", "\\|ρ\\| knowing the programme"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in types.sort_values("state_rho_best").itertuples():
        kl = ", ".join(f"{v:.2f}" for k, v in t._asdict().items() if k.startswith("kl_dim"))
        sd = ", ".join(f"{v:.2f}" for k, v in t._asdict().items() if k.startswith("sd_dim"))
        lines.append(
            f"| {t.dataset} | {t.type} | {t.n_cells} | {t.gain:.2f} | {t.purity:.2f} | "
            f"{t.state_rho_best:.2f} | {kl} | {sd} | {t.depth_rho:.2f} | "
            f"{known[t.dataset][t.type]:.2f} |"
        )
    return lines


def model_seed_lines(rows: pd.DataFrame, reseeded: pd.Series) -> list[str]:
    """The defaults' runs, before and with the state's teacher, on data sets reseeded."""
    defaults = rows["variant"].isin(["default", "no_state_teacher"])
    datasets = rows.loc[reseeded & defaults, "dataset"].unique()
    runs = rows[rows["dataset"].isin(datasets) & defaults]
    if runs.empty:
        return []
    lines = ["", "## The defaults under other model seeds, same data", ""]
    lines += [
        "Does a run's collapse follow the data or the training's randomness, and does the",
        "state's teacher hold under other seeds? Scored and found as above, per run.",
        "",
        f"| data | variant | model seed | ACC | scored types | best \\|ρ\\| ≥ {GOOD_RHO} "
        "| collapsed (both dims) | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs.sort_values(["dataset", "variant", "seed"]).itertuples():
        scored = scored_types(pd.DataFrame(run.per_type))
        collapsed = (scored.filter(like="kl_dim") < 0.05).all(axis=1).sum()
        found = (scored["state_rho_best"] >= GOOD_RHO).sum()
        lines.append(
            f"| {run.dataset} | {run.variant} | {run.seed} | {run.acc:.3f} | {len(scored)} "
            f"| {found} | {collapsed} | {run.commit} |"
        )
    return lines


def render() -> None:
    rows = RESULTS.rows().drop_duplicates(["dataset", "variant", "seed"], keep="last")
    rows["family"] = rows["dataset"].map(family)
    # On the harder simulators the table runs model seed 0 once per data seed; other model
    # seeds on one data set are listed apart.
    reseeded = rows["dataset"].str.startswith("prog") & (rows["seed"] != 0)
    seed_lines = model_seed_lines(rows, reseeded)
    rows = rows[~reseeded]
    # The defaults first, then the defaults before the state's teacher and before the decoder
    # read depth, then the screens.
    first = {"default": 0, "no_state_teacher": 1, "no_depth_in_decoder": 2}
    rows = rows.sort_values("variant", key=lambda v: v.map(first).fillna(2), kind="stable")
    summaries = [
        {"data": name, "variant": variant} | summary(group)
        for (variant, name), group in rows.groupby(["variant", "family"], sort=False)
    ]
    lines = prose(
        """
        # Does the state find the programme? (issue 33)

        Generated by `python benchmarks/state_recovery.py --render` from
        `results/state_recovery.jsonl`; the measures and the commands are in the docstring of
        `benchmarks/state_recovery.py`, the simulators in `benchmarks/programme_sims.py`
        (`prog<P>`: 12 hierarchical types, Zipf sizes, a `P`-gene programme with gains in
        [0.3, 2] or 0, activity in [−1, 1], log-normal depth; one run per data seed 0, 1, 2).
        `sim10` is the shipped simulator (data seed 0, model seeds 0, 1, 2). Scored types:
        gain ≥ 0.5 and matched to an inferred type ≥ 90 % pure. Target: best |ρ| ≥ 0.8 in
        ≥ 90 % of them.

        Variants (`benchmarks/state_variants.py`): `default` is the package's defaults, whose
        decoder reads each cell's log depth; `no_depth_in_decoder` the defaults before it did
        (`depth_in_decoder=False`). Rows before commit 185f8b9 ran on a decoder without depth:
        their `*_no_depth` and `no_depth_in_decoder` rows are that decoder; their `*_depth`
        rows and `depth_to_decoder` used a prototype of today's depth input (log depth / 10⁴,
        no batch norm). `kl_weight_0.5`: β = 0.5; `free_bits_λ`: the state KL of a dimension
        is free below λ nats (Kingma et al., 2016); `kl_warmup`: β rises from 0 over the
        first half of the epochs; `state_from_hidden`: the state reads the encoder's last
        hidden layer instead of `z`; `linear_state` and `per_type_linear_state`: the state
        also reaches the genes through one linear map (`W s`, shared by the types or one per
        type) added to the decoded log means; `n_states_4`, `epochs_x2`, `standard_prior`
        (`N(0, I)`) and `wide_decoder_input` (the decoder's first layer 100 wide) as named;
        `skip_state` and `skip_type_state`: the state (and the type) fed again to every
        layer of the decoder (Dieng et al., 2019). `kmeans_start`: `initialization="kmeans"`
        (K clusters, no merge). The state's teacher (`docs/method.md`): after the merge each
        arm's state mean is pulled, at weight 10 a squared unit, toward the cell's
        coordinates on its type's first two principal axes of Pearson residuals, for half the
        epochs left; the defaults since 8f97741, `no_state_teacher` the defaults before it
        (its rows at 3141cc9 ran the package of that commit). Screens of it, before it
        entered the package: `state_teacher` taught for every epoch left,
        `state_teacher_half_w1` at weight 1, `state_teacher_global(_half)` on residuals
        against the global gene fractions instead of each type's own; after it,
        `depth_free_teacher` (removed, 06cb331) taught targets made uncorrelated with log
        depth within each type. The screens ran 1 to 3 data seeds, as `runs` says.
        """
    )
    header = list(summaries[0])
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(s[h]) for h in header) + " |" for s in summaries]
    lines += [""]
    lines += prose(
        """
        ## What the rows show

        - The state's teacher found the programme where the state had collapsed: on `prog15`
          in 38 % of the scored types against 0 % without it, on `prog30` in 78 % against
          71 %, with the same ACC (0.941 and 0.887 against 0.936 and 0.869) and less depth
          in the state (mean |ρ| 0.20 and 0.13 against 0.37 and 0.29). On `prog60` it found
          95 % (one type at 0.73) against 100 % at 185f8b9, and on the shipped simulator all
          22 types, as without it (21 of 21, ACC 0.985 and 0.984). Under other model seeds
          (below) `prog15` data seed 0 found 3 of 7 every time (0, 3 and 0 without it);
          `prog30` data seed 1, missed in every run without it, found 5 of 5 under seed 0
          but 1 of 3 under seed 2, and under seed 1 no type came out pure enough to score.
          Within a true type the first principal component of the type's own Pearson
          residuals follows the programme in 48 % of `prog15`'s driven types and 79 % of
          `prog30`'s (`state_ceiling.md`, `blind`): the collapse lost a signal that was there.
          Taught for every epoch left it found a few more on `prog30` (93 %) but fewer on
          `prog15` (33 %) and moved gain-0 traversals up to 0.39 |log2FC|, and no dimension
          could collapse again; at weight 1 it barely moved the state (1 of 7); residuals
          against the global gene fractions put depth on the first axis (state–depth |ρ| up
          to 0.80).
        - Before the decoder read depth, a state dimension followed sequencing depth within a
          type (|ρ| 0.50 on average on `prog15` and `prog30`) where the programme was weak.
          Given the log depth (measured at 185f8b9, before the state's teacher), that
          dimension collapsed instead, and on `prog30` the programme was found in 72 % of the
          scored types against 40 %; on `prog60` in all of them.
        - Without the teacher the state collapsed in most `prog15` types: free bits and β =
          0.5 kept it open (21–43 % found, on 2 data seeds) but filled it with depth and
          noise in types without a programme too (programme |log2FC| up to 0.98 and 1.67
          along traversals of gain-0 types), a KL warm-up ended collapsed as well, and
          feeding the state to every decoder layer (`skip_*`) did not stop it. Missing the
          programme was a property of a run more than of a type: `prog30` data seed 1 failed
          under model seeds 0, 1 and 2 (below), and a K-cluster k-means start lost the types
          (ACC 0.41) without opening the state.
        - A collapsed dimension is what `model.get_state_kl()` reports (< 0.05 nats) and the
          traversal plot marks: where the state found nothing, the user is told.
        """
    )
    lines += seed_lines
    lines += ["", "## Every scored type of the defaults on the harder simulators", ""]
    lines += per_type_lines(rows)
    RESULTS.write_table(lines, rows)


if __name__ == "__main__":
    dataset_seed_main(__doc__, run, render, RESULTS, datasets=["prog30s0"], variants=VARIANTS)
