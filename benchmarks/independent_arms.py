"""Issue 28 research: arms taught independent clusterings (bootstrap k-means), not the same one.

At the defaults every arm is taught the same k-means clusters, so the arms agree by
construction. Here arm 0 is taught the package's clustering as it is, and each further arm
``a`` the k-means (its own seed, ``seed + a``) of a bootstrap resample of the same sampled
cells, in the same PCA; its clusters are matched to arm 0's (Hungarian on their contingency
over the sampled cells), so that category ``k`` is one cluster in every arm. The merge then
maps the categories of every arm alike. Two arms agree on a cell only where both clusterings
put it in matched clusters.

One training per dataset and seed records what the issue asks of the arms: ACC of the
consensus type and of each arm's own, and the AUROC of ``1 − confidence`` and
``1 − agreement`` for "this cell's type is wrong". The ``default`` variant trains the package's
defaults, for the same columns.

    python benchmarks/independent_arms.py --dataset pbmc zeisel7 sim40 zeisel47 \
        --variant independent default --seed 0 1 2 --threads 2
    python benchmarks/independent_arms.py --render
"""

from __future__ import annotations

import numpy as np
import scvi
import torch
from common import QUIET, Results, dataset_seed_main, load, run_metadata
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score
from view_consensus import match_to

import scmixvae
import scmixvae.start._type_start as type_start
from scmixvae.module import ClusterTeacher, CplMixVAEModule
from scmixvae.tl._metrics import matched_accuracy, matched_cells

RESULTS = Results("independent_arms")


class PerArmTeacher(ClusterTeacher):
    """A :class:`ClusterTeacher` with one set of centroids per arm, in one shared PCA.

    Cells without an arm axis (the merge's evidence) are labelled by arm 0's centroids; a
    pruned category's centroids are pointed by arm 0's distances (the arms' centroids are
    matched, so slot ``k`` is one cluster in every arm).
    """

    perturbed = False

    def __init__(self, n_input: int, n_categories: int, n_arms: int, counts: bool):
        super().__init__(n_input, n_categories, counts=counts)
        self.register_buffer(
            "centroids", torch.zeros(n_arms, n_categories, self.components.shape[1])
        )

    def nearest_centroid_to(self, embedding: torch.Tensor) -> torch.Tensor:
        if embedding.dim() == 2:
            return torch.cdist(embedding, self.centroids[0]).argmin(-1)
        return torch.cdist(embedding, self.centroids).argmin(-1)

    def retarget(self, active: torch.Tensor) -> None:
        taught = active[self.category]
        if taught.all():
            return
        nearest = torch.cdist(self.centroids[0], self.centroids[0][taught]).argmin(-1)
        self.category[~taught] = self.category[taught][nearest[~taught]]


class IndependentArmsModule(CplMixVAEModule):
    """The package's module whose teacher holds one clustering per arm."""

    #: Whether a further arm's k-means starts from arm 0's centroids (one run, a perturbation
    #: of arm 0's clusters by the resample) instead of 10 random restarts.
    perturbed = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shared = self.teacher
        self.teacher = PerArmTeacher(
            shared.mean.numel(), shared.centroids.shape[0], self.n_arms, shared.counts
        )
        self.teacher.perturbed = self.perturbed


class IndependentArmsModel(scmixvae.CplMixVAE):
    """:class:`scmixvae.CplMixVAE` built on :class:`IndependentArmsModule`."""

    _module_cls = IndependentArmsModule


class PerturbedArmsModule(IndependentArmsModule):
    perturbed = True


class PerturbedArmsModel(scmixvae.CplMixVAE):
    """Each further arm taught arm 0's k-means refitted on a bootstrap resample."""

    _module_cls = PerturbedArmsModule


_package_fit = type_start.fit_cluster_teacher


def fit_per_arm(teacher, x, seed=0):
    """The package's fit for arm 0; a bootstrap k-means, matched to arm 0, for every other arm."""
    if not isinstance(teacher, PerArmTeacher):
        return _package_fit(teacher, x, seed=seed)
    n_arms, n_clusters, n_components = teacher.centroids.shape
    single = ClusterTeacher(teacher.mean.numel(), n_clusters, n_components, teacher.counts)
    _package_fit(single.to(teacher.mean.device), x, seed=seed)
    for name, buffer in single.named_buffers():
        getattr(teacher, name).copy_(buffer)  # centroids: arm 0's to every arm
    with torch.no_grad():
        embedding = teacher.embed(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        reference = teacher.nearest_centroid_to(embedding).numpy()
        embedding = embedding.numpy()
        rng = np.random.default_rng(seed)
        for arm in range(1, n_arms):
            resample = rng.choice(len(embedding), len(embedding), replace=True)
            if teacher.perturbed:
                start = teacher.centroids[0, :, : embedding.shape[1]].numpy()
                kmeans = KMeans(n_clusters, init=start, n_init=1)
            else:
                kmeans = KMeans(n_clusters, n_init=10, random_state=(seed or 0) + arm)
            kmeans.fit(embedding[resample])
            order = match_to(reference, kmeans.predict(embedding), n_clusters)
            centroids = torch.as_tensor(kmeans.cluster_centers_[order], dtype=torch.float32)
            teacher.centroids[arm, :, : centroids.shape[1]] = centroids
    return teacher


type_start.fit_cluster_teacher = fit_per_arm


class Arm0MergeModule(IndependentArmsModule):
    """Independent arms whose merge reads arm 0's decoder alone."""

    def category_scores(self, *args, **kwargs):
        return super().category_scores(*args, **kwargs)[:1]


class Arm0MergeModel(scmixvae.CplMixVAE):
    """Independent arms; the over-clustering merge judged by arm 0's decoder only."""

    _module_cls = Arm0MergeModule


VARIANTS = {
    "default": scmixvae.CplMixVAE,
    "independent": IndependentArmsModel,
    "perturbed": PerturbedArmsModel,
    "independent_arm0_merge": Arm0MergeModel,
}


def run(dataset: str, variant: str, seed: int, arms: int) -> dict:
    adata, key = load(dataset)
    reference = adata.obs[key].astype(str).to_numpy()
    scvi.settings.seed = seed
    model_cls = VARIANTS[variant]
    model_cls.setup_anndata(adata, layer="counts")
    model = model_cls(adata, n_categories=adata.obs[key].nunique(), n_arms=arms)
    model.train(accelerator="cpu", **QUIET)
    model.annotate()
    types = adata.obs["cplmix_type"].astype(str).to_numpy()
    wrong = ~matched_cells(types, reference)
    arm_types = [adata.obs[f"cplmix_type_arm{a}"].astype(str).to_numpy() for a in range(arms)]
    agreement = adata.obs["cplmix_agreement"].to_numpy(dtype=float)
    confidence = adata.obs["cplmix_confidence"].to_numpy(dtype=float)
    return {
        "dataset": dataset,
        "variant": variant,
        "arms": arms,
        "seed": seed,
        "acc": float(1 - wrong.mean()),
        "acc_arms": [float(matched_accuracy(t, reference)) for t in arm_types],
        "agreement_below_1": float((agreement < 1).mean()),
        "auroc_confidence": float(roc_auc_score(wrong, 1 - confidence)),
        "auroc_agreement": float(roc_auc_score(wrong, 1 - agreement)),
        **run_metadata(),
    }


def summary_lines(rows) -> list[str]:
    """One line per dataset and variant: means (ACC: ± s.d.) over its seeds."""
    lines = []
    for (dataset, variant), group in rows.groupby(["dataset", "variant"], sort=False):
        seeds = ",".join(str(seed) for seed in group.seed)
        lines.append(
            f"| {dataset} | {variant} | {seeds} | {group.acc.mean():.3f} ± {group.acc.std():.3f} "
            f"| {group.agreement_below_1.mean():.3f} | {group.auroc_confidence.mean():.3f} "
            f"| {group.auroc_agreement.mean():.3f} |"
        )
    return sorted(lines)


def render() -> None:
    rows = RESULTS.rows()
    lines = [
        "# Arms taught independent clusterings (issue 28 research)",
        "",
        "Generated by `python benchmarks/independent_arms.py --render` from",
        "`results/independent_arms.jsonl`. `independent`: arm 0 taught the package's",
        "k-means clusters, every other arm the k-means of a bootstrap resample of the same",
        "cells (its own seed), matched to arm 0's; `perturbed`: every other arm taught arm 0's",
        "k-means refitted on a bootstrap resample from arm 0's centroids (one run);",
        "`independent_arm0_merge`: `independent`, the merge judged by arm 0's decoder alone;",
        "`default`: the package's defaults (every arm",
        "taught the same clusters). At the true K. ACC of the consensus type and of each arm's",
        "own; `disagree`: share of cells whose arms do not all agree; AUROC of `1 − score` for",
        "\"this cell's type is wrong\" (target 0.75). The defaults' Zeisel 47 runs were",
        "stopped to free the machine; their ACC at these seeds is in `accuracy.md` (0.501,",
        "0.457, 0.447: mean 0.468), their AUROC at seed 0 in `confidence.md` (0.678).",
        "",
        "Neither variant entered the package (`tried.md`): independent clusterings gain on",
        "Zeisel 7 (+0.04 ACC, AUROC 0.77 against 0.66) and PBMC (+0.01) but lose 0.04 on",
        "Zeisel 47. There the arms disagree on 45 % of the cells (94 clusters of 3,005",
        "cells do not survive a resample), and arm 0's own ACC falls too (0.37-0.45), so the",
        "second arm's conflicting labels reach arm 0; a likely path, not measured apart, is",
        "the merge, which sums both arms' decoder scores. The perturbed clusterings change",
        "little and add a collapse on one Zeisel 7 seed (0.56). With the merge judged by",
        "arm 0's decoder alone (`independent_arm0_merge`) Zeisel 47 recovers most of the",
        "loss (0.458) and the real data gain (Zeisel 7 0.838, PBMC 0.654), but sim40 falls",
        "to 0.979 (0.993): not adopted on these 3 seeds; the direction to measure further.",
        "",
        "## Mean over seeds",
        "",
        "| dataset | variant | seeds | ACC | disagree | AUROC confidence | AUROC agreement |",
        "|---|---|---|---|---|---|---|",
        *summary_lines(rows),
        "",
        "## Every run",
        "",
        "| dataset | variant | arms | seed | ACC | ACC per arm | disagree | AUROC confidence "
        "| AUROC agreement | commit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.iterrows():
        per_arm = ", ".join(f"{a:.3f}" for a in r.acc_arms)
        lines.append(
            f"| {r.dataset} | {r.variant} | {r.arms} | {r.seed} | {r.acc:.3f} | {per_arm} "
            f"| {r.agreement_below_1:.3f} | {r.auroc_confidence:.3f} | {r.auroc_agreement:.3f} "
            f"| {r.commit} |"
        )
    RESULTS.write_table(lines, rows)


if __name__ == "__main__":
    dataset_seed_main(
        __doc__, run, render, RESULTS, options={"arms": 2}, variants=dict.fromkeys(VARIANTS)
    )
