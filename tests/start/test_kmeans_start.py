import math
import warnings

import numpy as np
import pytest
import scvi
import torch
from conftest import QUIET
from scipy import sparse
from scvi import REGISTRY_KEYS

import scmixvae
from scmixvae._expression import pearson_residuals
from scmixvae.module import ClusterTeacher, CplMixVAEModule
from scmixvae.start import fit_cluster_teacher
from scmixvae.train import CplMixVAETrainingPlan

X = REGISTRY_KEYS.X_KEY


def _blobs(n=30, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(0, 1, (n, d)), rng.normal(8, 1, (n, d)), rng.normal(-8, 1, (n, d))])
    return x.astype("float32"), np.repeat([0, 1, 2], n)


def _same_partition(a, b):
    return scmixvae.tl.adjusted_rand_index(a.astype(str), b.astype(str)) == pytest.approx(1.0)


def test_teacher_recovers_blobs_dense_and_sparse():
    x, truth = _blobs()
    dense = fit_cluster_teacher(ClusterTeacher(6, n_categories=3, n_components=3), x, seed=0)
    assert _same_partition(dense(torch.from_numpy(x)).numpy(), truth)
    shifted = x + 10.0  # sparse input is densified in chunks, so the result is the same
    sp = fit_cluster_teacher(
        ClusterTeacher(6, n_categories=3, n_components=3), sparse.csr_matrix(shifted)
    )
    assert _same_partition(sp(torch.from_numpy(shifted)).numpy(), truth)
    # leading arm dimension
    labels = dense(torch.from_numpy(x).expand(2, -1, -1))
    assert labels.shape == (2, 90) and torch.equal(labels[0], labels[1])


def test_each_arm_is_taught_its_own_bootstrap_clustering():
    x, truth = _blobs()
    one = fit_cluster_teacher(ClusterTeacher(6, n_categories=3, n_components=3), x, seed=0)
    two = fit_cluster_teacher(
        ClusterTeacher(6, n_categories=3, n_components=3, n_arms=2), x, seed=0
    )
    assert torch.equal(two.centroids[0], one.centroids[0])  # arm 0: the k-means of all cells
    assert not torch.equal(two.centroids[1], two.centroids[0])  # arm 1: of a resample
    # clusters that survive the resample get the same number in both arms
    labels = two(torch.from_numpy(x).expand(2, -1, -1))
    assert torch.equal(labels[0], labels[1]) and _same_partition(labels[0].numpy(), truth)
    # a continuum cut into 4 is cut elsewhere by the resample: the arms disagree on some cells
    line = np.linspace(0, 10, 200, dtype="float32")[:, None] * np.ones((1, 6), "float32")
    cut = fit_cluster_teacher(ClusterTeacher(6, n_categories=4, n_arms=2), line, seed=0)
    labels = cut(torch.from_numpy(line).expand(2, -1, -1))
    assert 0 < (labels[0] != labels[1]).sum() < 50
    # cells without an arm axis (the merge's) are labelled by arm 0's clusters
    assert torch.equal(cut(torch.from_numpy(line)), labels[0])


def test_an_arm_whose_resample_is_too_small_for_its_own_clustering_shares_arm_0s():
    x = np.random.default_rng(0).normal(size=(30, 6)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about duplicate points
        teacher = fit_cluster_teacher(
            ClusterTeacher(6, n_categories=25, n_components=3, n_arms=2), x, seed=0
        )
    assert torch.equal(teacher.centroids[1], teacher.centroids[0])


def test_a_single_clustering_saved_before_loads_into_every_arm():
    teacher = ClusterTeacher(4, n_categories=3, n_components=2, n_arms=2)
    saved = {name: buffer.clone() for name, buffer in teacher.state_dict().items()}
    saved["centroids"] = torch.arange(6.0).reshape(3, 2)
    teacher.load_state_dict(saved)
    assert teacher.centroids.shape == (2, 3, 2)
    assert torch.equal(teacher.centroids[0], saved["centroids"])
    assert torch.equal(teacher.centroids[1], saved["centroids"])


def test_clusters_are_matched_by_the_cells_they_share():
    from scmixvae.start._kmeans import match_clusters

    reference = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([1, 1, 2, 0, 0, 2, 2, 2])  # cluster 2 also took a cell of 0
    order = match_clusters(reference, labels, 3)
    assert order.tolist() == [1, 0, 2]
    assert (order[reference] == labels).sum() == 7


def test_teacher_errors_on_too_few_cells():
    with pytest.raises(ValueError, match="at least n_categories"):
        fit_cluster_teacher(ClusterTeacher(6, n_categories=5), np.zeros((3, 6), dtype="float32"))
    # one gene is enough, dense or sparse
    x = np.array([[0.0], [0.1], [5.0], [5.1]], dtype="float32")
    for data in (x, sparse.csr_matrix(x)):
        labels = fit_cluster_teacher(ClusterTeacher(1, n_categories=2), data)(
            torch.from_numpy(x)
        ).numpy()
        assert labels[0] == labels[1] != labels[2] == labels[3]


def test_teacher_phase_feeds_labels_and_adds_cross_entropy():
    torch.manual_seed(0)
    module = CplMixVAEModule(n_input=12, n_slots=3, initialization="kmeans")
    x = torch.poisson(torch.full((16, 12), 3.0))
    module.teacher.centroids.normal_()
    inference_kwargs = {"temperature": 1.0, "use_teacher": True}
    inf, _, out = module({X: x}, inference_kwargs=inference_kwargs)
    labels = inf["teacher_labels"]
    assert labels.shape == (2, 16)
    assert torch.equal(inf["c"].argmax(-1), labels) and torch.equal(
        inf["c"].sum(-1), torch.ones(2, 16)
    )
    # the cross-entropy teaches the category head but cannot reach the decoder through c
    module.zero_grad()
    cross_entropy = -inf["log_q"].gather(-1, labels[..., None]).mean()
    cross_entropy.backward(retain_graph=True)
    assert module.category_head.weight.grad.abs().sum() > 0
    assert torch.isfinite(out.loss)
    # and the loss is the cold loss plus that term, summed over arms
    module.zero_grad()
    plain = CplMixVAEModule.loss(
        module, {X: x}, {k: v for k, v in inf.items() if k != "teacher_labels"}, _
    )
    ce_per_arm = -inf["log_q"].gather(-1, labels[..., None]).squeeze(-1).mean(-1)
    assert out.loss.item() == pytest.approx((plain.loss + ce_per_arm.sum()).item(), rel=1e-5)


def test_teacher_needs_kmeans_initialization():
    assert CplMixVAEModule(n_input=12, n_slots=3).teacher is not None  # the default start
    module = CplMixVAEModule(n_input=12, n_slots=3, initialization="random")
    assert module.teacher is None
    with pytest.raises(ValueError, match="initialization='kmeans'"):
        module.inference(torch.ones(4, 12), use_teacher=True)
    with pytest.raises(ValueError, match="initialization='kmeans'"):
        CplMixVAETrainingPlan(module, n_epochs_teacher=2)
    with pytest.raises(ValueError, match="initialization"):
        CplMixVAEModule(n_input=12, n_slots=3, initialization="leiden")


def test_kmeans_warm_start_trains_and_round_trips(small_adata, tmp_path):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = scmixvae.CplMixVAE(small_adata, n_categories=4, n_hidden=32, initialization="kmeans")
    model.train(max_epochs=5, batch_size=64, **QUIET)
    teacher = model.module.teacher
    assert teacher.centroids.abs().sum() > 0  # fitted before training
    assert model.history["train_loss"].shape[0] == 5
    x = torch.as_tensor(small_adata.layers["counts"].toarray(), dtype=torch.float32)
    with torch.no_grad():
        labels = teacher(x).numpy()
    # the simulated types are well separated: k-means on the PCA finds them
    reference = small_adata.obs["type"].astype(str).to_numpy()
    assert scmixvae.tl.adjusted_rand_index(labels.astype(str), reference) > 0.9
    model.save(tmp_path / "m")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert torch.equal(loaded.module.teacher.centroids, teacher.centroids)
    assert loaded.get_cell_types().equals(model.get_cell_types())


def test_pearson_residuals_by_hand():
    x = torch.tensor([[6.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    fraction = torch.tensor([0.25, 0.75, 0.0])
    got = pearson_residuals(x, fraction, clip=1.5, theta=4.0)
    # cell 0: library 8, mu = (2, 6); scale = sqrt(mu + mu^2 / 4) = (sqrt 3, sqrt 15)
    expected_0 = [min((6 - 2) / math.sqrt(3), 1.5), (2 - 6) / math.sqrt(15), 0.0]
    assert got[0].tolist() == pytest.approx(expected_0)
    # an empty cell and a gene never seen (fraction 0) give 0, not NaN
    assert got[1].tolist() == [0.0, 0.0, 0.0]


def test_residual_teacher_clusters_by_profile_not_depth():
    rng = np.random.default_rng(0)
    profiles = np.array([[8, 1, 1, 1, 1, 8], [1, 8, 8, 1, 1, 1], [1, 1, 1, 8, 8, 1]], float)
    types = np.repeat([0, 1, 2], 40)
    depth = rng.choice([0.2, 1.0, 5.0], size=types.size)  # depths 25-fold apart in each type
    counts = rng.poisson(20 * depth[:, None] * profiles[types]).astype("float32")
    teacher = ClusterTeacher(6, n_categories=3, counts=True)
    fit_cluster_teacher(teacher, sparse.csr_matrix(counts), seed=0)
    assert teacher.gene_fraction.sum().item() == pytest.approx(1.0)
    assert teacher.residual_clip.item() == pytest.approx(math.sqrt(120))
    assert _same_partition(teacher(torch.from_numpy(counts)).numpy(), types)
    # the same counts as they are: k-means splits by depth instead
    raw = fit_cluster_teacher(ClusterTeacher(6, n_categories=3), counts, seed=0)
    assert not _same_partition(raw(torch.from_numpy(counts)).numpy(), types)


def test_the_teacher_reads_residuals_of_counts_and_other_data_as_they_are():
    def module(**kwargs):
        return CplMixVAEModule(n_input=5, n_slots=3, initialization="kmeans", **kwargs)

    assert module().teacher.counts and module(likelihood="zinb").teacher.counts
    assert not module(likelihood="normal").teacher.counts
    x = torch.tensor([[0.5, 0.1, 0.0, 0.9, 0.2]])
    assert torch.equal(module(likelihood="normal").teacher.represent(x), x)
