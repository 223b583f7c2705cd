import numpy as np
import pytest
import scvi
import torch
from conftest import QUIET

import scmixvae
from scmixvae.module import ClusterTeacher, CplMixVAEModule
from scmixvae.start import (
    StartSchedule,
    decoder_divergence,
    fit_cluster_teacher,
    geodesic_divergence,
    linkage_groups,
    merge_categories,
    neighbour_connectivity,
)
from scmixvae.start._merge_step import (
    balanced_cells,
    merge_evidence,
    merge_over_clusters,
    teacher_embedding,
)


def _two_types_in_four_clusters():
    """Clusters 0, 1 share a decoder (one type), as do 2, 3; 4 cells per cluster."""
    labels = np.repeat([0, 1, 2, 3], 4)
    near, far = 1.0, 50.0
    scores = np.full((16, 4), far)
    for cell, cluster in enumerate(labels):
        scores[cell, cluster] = 0.0
        scores[cell, cluster ^ 1] = near  # the other cluster of the same type
    return scores, labels


def test_divergence_is_the_symmetrised_per_cell_cost():
    scores, labels = _two_types_in_four_clusters()
    scores[labels == 0, 1] = 3.0  # cluster 0's cells cost 3 under category 1 ...
    divergence = decoder_divergence(scores, labels)
    # ... and cluster 1's cells cost 1 under category 0: (3 + 1) / 2
    assert divergence[0, 1] == divergence[1, 0] == pytest.approx(2.0)
    assert divergence[0, 2] == pytest.approx(50.0)
    assert np.allclose(np.diag(divergence), 0)
    # a cluster of many cells costs the same per cell as a small one
    many = np.concatenate([labels, np.zeros(40, dtype=int)])
    heavy = np.vstack([scores, np.tile(scores[:1], (40, 1))])
    assert decoder_divergence(heavy, many)[0, 2] == pytest.approx(50.0)


def test_divergence_ignores_negative_costs_and_empty_categories():
    scores = np.array([[0.0, -5.0, 9.0], [2.0, 0.0, 9.0]])
    divergence = decoder_divergence(scores, np.array([0, 1]))
    assert divergence[0, 1] == pytest.approx(1.0)  # (max(-5, 0) + 2) / 2
    assert divergence[2, 0] == divergence[2, 1] == 0.0  # category 2 has no cells


def test_geodesic_divergence_is_the_cheapest_chain_of_steps():
    divergence = np.array(
        [[0, 3, 9, 6, 0], [3, 0, 4, 6, 0], [9, 4, 0, 8, 0], [6, 6, 8, 0, 0], [0, 0, 0, 0, 0]],
        dtype=float,
    )
    geodesic = geodesic_divergence(divergence)  # power 2: steps cost divergence²
    assert geodesic[0, 2] == pytest.approx(5.0)  # 0 -> 1 -> 2: sqrt(9 + 16) < 9
    assert geodesic[2, 3] == pytest.approx(np.sqrt(16 + 36))  # 2 -> 1 -> 3 < 8
    assert geodesic[0, 3] == pytest.approx(6.0)  # the direct step is the cheapest
    # category 4 (no cells: 0 from everyone) keeps its zeros and is no shortcut
    assert np.all(geodesic[4] == 0.0) and geodesic[0, 3] > 0
    assert np.allclose(geodesic, geodesic.T)
    # power 1 sums the steps: 3 + 4 < 9; a large power tends to the largest step
    assert geodesic_divergence(divergence, power=1.0)[0, 2] == pytest.approx(7.0)
    assert geodesic_divergence(divergence, power=50.0)[0, 2] == pytest.approx(4.0, rel=0.02)
    # a divergence of 0 between two categories with cells is a step of length 0
    touching = np.array([[0, 0, 3], [0, 0, 5], [3, 5, 0]], dtype=float)
    assert geodesic_divergence(touching)[1, 2] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="power must be positive, got 0"):
        geodesic_divergence(divergence, power=0)


def test_geodesic_merge_keeps_a_chain_together_that_average_linkage_cuts():
    # one cell per category, scores[j, i] = divergence[i, j]: clusters 0 - 1 - 2 form a
    # chain of small steps whose ends are far apart; 3 is a distinct type. Average linkage:
    # {0, 1} is 5.5 from 2 and 4 from 3. Geodesic: 0 - 2 is sqrt(2), so {0, 1} is 1.2 from 2.
    divergence = np.array([[0, 1, 10, 4], [1, 0, 1, 4], [10, 1, 0, 6], [4, 4, 6, 0]], float)
    labels = np.arange(4)
    assert np.allclose(decoder_divergence(divergence, labels), divergence)
    assert list(linkage_groups(divergence, 2)) in ([0, 0, 1, 0], [1, 1, 0, 1])  # average
    geodesic_groups = merge_categories(divergence, labels, 2)
    assert len(set(geodesic_groups[:3])) == 1 and geodesic_groups[3] == 3


def test_merge_joins_the_clusters_of_a_type_and_names_a_member():
    scores, labels = _two_types_in_four_clusters()
    representative = merge_categories(scores, labels, n_groups=2)
    assert representative[0] == representative[1] in (0, 1)
    assert representative[2] == representative[3] in (2, 3)
    assert representative[0] != representative[2]
    assert np.array_equal(merge_categories(scores, labels, 4), np.arange(4))


def test_merge_keeps_a_small_distinct_type_apart_from_large_ones():
    # two large clusters of one type (cost 5 per cell between them), one tiny distinct type
    labels = np.array([0] * 50 + [1] * 50 + [2] * 2)
    scores = np.full((102, 3), 40.0)
    scores[np.arange(102), labels] = 0.0
    scores[:100, :2] = np.where(scores[:100, :2] == 0.0, 0.0, 5.0)
    assert list(merge_categories(scores, labels, 2)) in ([0, 0, 2], [1, 1, 2])


def test_merge_gives_exactly_n_groups_when_the_distances_tie():
    # untrained decoders: every cell scores the same under every category
    scores, labels = np.zeros((12, 6)), np.repeat(np.arange(6), 2)
    for n_groups in (1, 2, 4):
        assert len(set(merge_categories(scores, labels, n_groups))) == n_groups


def test_neighbour_connectivity_counts_shared_neighbours_of_two_clusters():
    # a line of cells: clusters 0 and 1 touch, cluster 2 lies apart, cluster 3 has no cells
    embedding = np.array([[0.0], [1.0], [2.0], [3.1], [4.3], [5.6], [50.0], [51.5], [53.1]])
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    connectivity = neighbour_connectivity(embedding, labels, 4, n_neighbors=1)
    # the one edge between 0 and 1: cell 3 → cell 2 (1.1 < 1.2), counted both ways, of 2·1·3
    assert connectivity[0, 1] == connectivity[1, 0] == pytest.approx(1 / 6)
    assert connectivity[0, 2] == connectivity[1, 2] == 0.0
    assert np.all(connectivity[3] == 0.0) and np.all(np.diag(connectivity) == 0.0)
    # more neighbours than other cells: every cell's edges reach every other cell
    full = neighbour_connectivity(embedding[:2], np.array([0, 1]), 2, n_neighbors=15)
    assert full[0, 1] == pytest.approx(1.0)


def test_connectivity_merges_a_continuum_before_a_distinct_type():
    # one cell per category; 0-1 differ by 10, 0-2 and 1-2 by 8. Without the graph, 2 joins
    # 0 or 1; with 0 and 1 sharing neighbours (a continuum), 0 and 1 are merged.
    scores = np.array([[0.0, 10.0, 8.0], [10.0, 0.0, 8.0], [8.0, 8.0, 0.0]])
    labels = np.arange(3)
    connectivity = np.array([[0.0, 0.2, 0.0], [0.2, 0.0, 0.0], [0.0, 0.0, 0.0]])
    plain = merge_categories(scores, labels, 2)
    assert plain[2] in (plain[0], plain[1])
    graph = merge_categories(scores, labels, 2, connectivity=connectivity)
    assert graph[0] == graph[1] != graph[2]


def test_merge_checks_the_number_of_groups():
    scores, labels = _two_types_in_four_clusters()
    for bad in (0, 5):
        with pytest.raises(ValueError, match="n_groups must be between 1 and 4"):
            merge_categories(scores, labels, bad)


def test_teacher_teaches_the_category_of_its_centroid():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]], dtype="float32")
    teacher = fit_cluster_teacher(ClusterTeacher(2, n_categories=2, n_components=2), x)
    nearest = teacher.nearest_centroid(torch.from_numpy(x))
    assert torch.equal(teacher(torch.from_numpy(x)), nearest)  # identity map at first
    teacher.assign_categories(np.array([1, 1]))
    assert torch.equal(teacher(torch.from_numpy(x)), torch.ones(4, dtype=torch.long))
    assert torch.equal(teacher.nearest_centroid(torch.from_numpy(x)), nearest)
    with pytest.raises(ValueError, match="one category per centroid"):
        teacher.assign_categories(np.array([0, 1, 1]))


def _overcluster_model(adata, **kwargs):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    return scmixvae.CplMixVAE(
        adata, n_categories=4, n_hidden=32, initialization="overcluster", **kwargs
    )


def test_overcluster_trains_twice_the_categories_then_merges_them(small_adata, tmp_path):
    model = _overcluster_model(small_adata)
    assert model.module.n_slots == 8 and "4 categories" in model._model_summary_string
    merges = []
    original = StartSchedule.on_train_epoch_start

    def record(self, trainer, pl_module):
        before = int(model.module.active.sum())
        original(self, trainer, pl_module)
        merges.append((trainer.current_epoch, before, int(model.module.active.sum())))

    StartSchedule.on_train_epoch_start = record
    try:
        model.train(max_epochs=10, batch_size=64, **QUIET)
    finally:
        StartSchedule.on_train_epoch_start = original
    # taught 8 clusters in epochs 0-4, merged at the start of epoch 5 (half of 10 epochs)
    assert merges == [(e, 8, 8) for e in range(5)] + [(5, 8, 4)] + [(e, 4, 4) for e in (6, 7, 8, 9)]
    module = model.module
    active = module.active.nonzero().flatten()
    assert set(module.teacher.category.tolist()) == set(active.tolist())
    # the merged types are named "0".."3", from the largest; the other slots are never given
    assert sorted(model.category_names[k] for k in active.tolist()) == ["0", "1", "2", "3"]
    assert set(model.get_cell_types().cat.categories) <= {"0", "1", "2", "3"}
    assert model.settings()["n_categories"] == 4
    assert len(model.settings()["categories"]) == 4
    # the types are well separated: 8 k-means clusters merge back into them
    reference = small_adata.obs["type"].astype(str).to_numpy()
    x = torch.as_tensor(small_adata.layers["counts"].toarray(), dtype=torch.float32)
    with torch.no_grad():
        taught = module.teacher(x).numpy()
    assert scmixvae.tl.adjusted_rand_index(taught.astype(str), reference) > 0.9
    # training again neither refits the teacher nor merges again
    category, centroids = module.teacher.category.clone(), module.teacher.centroids.clone()
    model.train(max_epochs=1, batch_size=64, **QUIET)
    assert torch.equal(module.teacher.category, category)
    assert torch.equal(module.teacher.centroids, centroids)
    model.save(tmp_path / "m")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert torch.equal(loaded.module.teacher.category, category)
    assert torch.equal(loaded.module.active, module.active)
    assert loaded.get_cell_types().equals(model.get_cell_types())


def test_the_merge_evidence_reads_arm_0s_decoder_and_the_teachers_centroids(small_adata):
    model = _overcluster_model(small_adata)
    counts = small_adata.layers["counts"].toarray().astype("float32")
    fit_cluster_teacher(model.module.teacher, counts, seed=0)
    module = model.module
    cells = np.arange(0, small_adata.n_obs, 3)
    scores, clusters, depths, embedding = merge_evidence(model, cells)
    x = torch.as_tensor(small_adata.layers["counts"][cells].toarray(), dtype=torch.float32)
    x_arm = x.expand(2, *x.shape)
    with torch.no_grad():
        module.eval()
        library = module.library_size(x_arm)
        z, _ = module.encode(x_arm, library)
        by_hand = module.category_scores(x_arm, z, library)[0].double().numpy()
        nearest = module.teacher.nearest_centroid(x).numpy()
        embedded = module.teacher.embed(x).numpy()
    assert scores.shape == (len(cells), 8)
    assert np.allclose(scores, by_hand, rtol=1e-5)
    assert np.array_equal(clusters, nearest)
    assert np.array_equal(depths, x.sum(1).numpy())
    assert np.allclose(embedding, embedded)


def test_the_merge_counts_neighbours_on_every_cell_and_scores_a_balanced_subset(small_adata):
    model = _overcluster_model(small_adata)
    counts = small_adata.layers["counts"].toarray().astype("float32")
    fit_cluster_teacher(model.module.teacher, counts, seed=0)
    cells = np.arange(small_adata.n_obs)
    # Scoring first recomputes the batch-norm statistics on its cells; with the same
    # weights and the same noise for the states the merge recomputes the same statistics.
    torch.manual_seed(0)
    embedding, clusters = teacher_embedding(model, cells)
    judged = cells[balanced_cells(clusters, len(cells) // 3, seed=0)]
    scores, judged_clusters, _, _ = merge_evidence(model, judged)
    with torch.no_grad():
        x = torch.as_tensor(counts)
        assert np.allclose(embedding, model.module.teacher.embed(x).numpy(), atol=1e-5)
        assert np.array_equal(clusters, model.module.teacher.nearest_centroid(x).numpy())
    torch.manual_seed(0)
    merge_over_clusters(model, cells, 4, at_most=len(cells) // 3, seed=0)
    connectivity = neighbour_connectivity(embedding, clusters, 8)
    representative = merge_categories(scores, judged_clusters, 4, connectivity)
    assert torch.equal(model.module.teacher.category, torch.as_tensor(representative))
    assert int(model.module.active.sum()) == 4 and model.module.training
    # the graph of the judged cells alone would differ: the test can tell the two apart
    judged_graph = neighbour_connectivity(embedding[judged], judged_clusters, 8)
    assert not np.allclose(judged_graph, connectivity)


def test_balanced_cells_keep_each_label_up_to_a_common_cap():
    labels = np.repeat([0, 1, 2, 3], [50, 30, 6, 2])
    chosen = balanced_cells(labels, at_most=40, seed=0)
    # the largest cap that fits 40: 16 + 16 + 6 + 2
    np.testing.assert_array_equal(np.bincount(labels[chosen]), [16, 16, 6, 2])
    assert np.all(np.diff(chosen) > 0)  # sorted, no repeats
    np.testing.assert_array_equal(chosen, balanced_cells(labels, at_most=40, seed=0))
    assert not np.array_equal(chosen, balanced_cells(labels, at_most=40, seed=1))
    np.testing.assert_array_equal(balanced_cells(labels, at_most=88, seed=0), np.arange(88))


def test_overcluster_needs_no_more_clusters_than_cells(small_adata):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = scmixvae.CplMixVAE(small_adata, n_categories=200, initialization="overcluster")
    assert model.module.n_slots == small_adata.n_obs


def test_pruning_a_merged_model_retargets_the_teacher(small_adata):
    model = _overcluster_model(small_adata)
    model.train(max_epochs=4, batch_size=64, **QUIET)
    module = model.module
    pruned = int(module.active.nonzero()[0])
    module.mask_category(pruned)
    # the centroids that taught the pruned type now teach surviving ones
    assert set(module.teacher.category.tolist()) <= set(module.active.nonzero().flatten().tolist())
    # and its clusters' posteriors are gone with it
    assert model.category_names[pruned] not in model.get_cell_types().astype(str).tolist()
    model.train(max_epochs=1, batch_size=64, **QUIET)  # taught: the loss stays finite
    assert np.isfinite(model.history["train_loss"].to_numpy(dtype=float)).all()


def test_merging_sums_the_posteriors_of_the_merged_categories():
    torch.manual_seed(0)
    module = CplMixVAEModule(n_input=12, n_slots=4, initialization="overcluster")
    x = torch.poisson(torch.full((6, 12), 3.0)).expand(2, -1, -1)
    module.eval()
    _, before = module.encode(x)
    module.merge_into(np.array([1, 1, 2, 2]))
    _, after = module.encode(x)
    assert torch.equal(module.active, torch.tensor([False, True, True, False]))
    assert torch.isneginf(after[..., [0, 3]]).all()
    summed = torch.stack([before[..., :2].exp().sum(-1), before[..., 2:].exp().sum(-1)], -1)
    assert torch.allclose(after[..., 1:3].exp(), summed, atol=1e-6)
    assert torch.equal(module.teacher.category, torch.tensor([1, 1, 2, 2]))
    # saved and loaded, the module still sums
    loaded = CplMixVAEModule(n_input=12, n_slots=4, initialization="overcluster")
    loaded.load_state_dict(module.state_dict())
    loaded.eval()
    assert loaded.is_merged and torch.equal(loaded.encode(x)[1], after)
    # a second merge composes: category 0 follows 1 into 2
    module.merge_into(np.array([0, 2, 2, 3]))
    assert torch.equal(module.active, torch.tensor([False, False, True, False]))
    assert torch.equal(module.merged_into, torch.tensor([2, 2, 2, 2]))
    assert torch.equal(module.teacher.category, torch.tensor([2, 2, 2, 2]))
    assert torch.allclose(module.encode(x)[1][..., 2], torch.zeros(()), atol=1e-6)
    with pytest.raises(ValueError, match="Only active categories"):
        module.merge_into(np.array([2, 1, 2, 3]))
    with pytest.raises(ValueError, match="represent itself"):
        CplMixVAEModule(n_input=12, n_slots=4).merge_into(np.array([1, 2, 2, 2]))


def test_balanced_cells_keep_one_of_each_label_when_the_budget_is_smaller():
    labels = np.repeat([0, 1, 2, 3], [5, 4, 3, 2])
    chosen = balanced_cells(labels, at_most=3, seed=0)
    np.testing.assert_array_equal(np.bincount(labels[chosen]), [1, 1, 1, 1])
