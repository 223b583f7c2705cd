from types import SimpleNamespace

import numpy as np
import scvi
import torch

import scmixvae
import scmixvae.start._type_start as type_start
from scmixvae.start import TypeStart


def _model(adata, initialization):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    return scmixvae.CplMixVAE(adata, n_categories=4, n_hidden=32, initialization=initialization)


def _fit_start(schedule, n_epochs_teacher=None, ckpt_path=None):
    plan = SimpleNamespace(n_epochs_teacher=n_epochs_teacher)
    schedule.on_fit_start(SimpleNamespace(ckpt_path=ckpt_path), plan)
    return plan.n_epochs_teacher


def test_slots_per_start():
    assert TypeStart("overcluster", n_types=10).n_slots(n_obs=3000) == 20
    assert TypeStart("overcluster", n_types=10).n_slots(n_obs=15) == 15
    assert TypeStart("kmeans", n_types=10).n_slots(n_obs=3000) == 10
    assert TypeStart("random", n_types=10).n_slots(n_obs=3000) == 10


def test_the_schedule_fits_the_clustering_and_sets_the_teaching(small_adata):
    model = _model(small_adata, "overcluster")
    cells = np.arange(small_adata.n_obs)
    centroids = model.module.teacher.centroids
    assert not centroids.any()
    # overcluster: taught every epoch, merged halfway
    schedule = model.type_start.schedule(model, cells, max_epochs=10)
    assert _fit_start(schedule) == 10 and schedule.merge_epoch == 5
    assert centroids.abs().sum(-1).gt(0).all()
    # a teaching length given to the plan wins
    assert _fit_start(model.type_start.schedule(model, cells, max_epochs=10), 3) == 3


def test_a_resumed_fit_keeps_the_checkpoints_clustering(small_adata):
    model = _model(small_adata, "overcluster")
    schedule = model.type_start.schedule(model, np.arange(small_adata.n_obs), max_epochs=10)
    _fit_start(schedule, ckpt_path="last.ckpt")
    assert not model.module.teacher.centroids.any()


def test_kmeans_teaches_a_fifth_of_the_first_training_only(small_adata):
    model = _model(small_adata, "kmeans")
    cells = np.arange(small_adata.n_obs)
    assert _fit_start(model.type_start.schedule(model, cells, max_epochs=10)) == 2
    model.is_trained_ = True
    before = model.module.teacher.centroids.clone()
    assert _fit_start(model.type_start.schedule(model, cells, max_epochs=10)) == 0
    assert torch.equal(model.module.teacher.centroids, before)


def test_the_cold_start_fits_and_teaches_nothing(small_adata):
    model = _model(small_adata, "random")
    assert model.module.teacher is None
    schedule = model.type_start.schedule(model, np.arange(small_adata.n_obs), max_epochs=10)
    assert _fit_start(schedule) == 0
    schedule.on_train_epoch_start(SimpleNamespace(current_epoch=9), None)
    assert int(model.module.active.sum()) == 4


def test_the_merge_runs_once_at_the_merge_epoch_judged_on_at_most_max_merge_cells(
    small_adata, monkeypatch
):
    model = _model(small_adata, "overcluster")
    cells = np.arange(0, small_adata.n_obs, 2)  # the sampled cells
    schedule = model.type_start.schedule(model, cells, max_epochs=10)
    _fit_start(schedule)
    merges = []

    def merge(model, sampled, n_types, at_most, seed):
        merges.append((sampled, n_types, at_most, seed))

    monkeypatch.setattr(type_start, "merge_over_clusters", merge)
    monkeypatch.setattr(type_start, "MAX_MERGE_CELLS", 50)
    schedule.on_train_epoch_start(SimpleNamespace(current_epoch=4), None)
    assert merges == []  # not yet: the merge epoch is 5
    schedule.on_train_epoch_start(SimpleNamespace(current_epoch=5), None)
    ((sampled, n_types, at_most, seed),) = merges
    assert sampled is cells and (n_types, at_most, seed) == (4, 50, scvi.settings.seed)


def test_the_state_is_taught_after_the_merge_for_half_the_epochs_left(small_adata, monkeypatch):
    model = _model(small_adata, "overcluster")
    schedule = model.type_start.schedule(model, np.arange(small_adata.n_obs), max_epochs=12)
    _fit_start(schedule)
    monkeypatch.setattr(type_start, "merge_over_clusters", lambda *args: None)
    state_teacher = model.module.state_teacher
    teaching = []
    for epoch in range(4, 12):
        schedule.on_train_epoch_start(SimpleNamespace(current_epoch=epoch), None)
        teaching.append(state_teacher.teaching)
        if epoch == 5:
            assert not state_teacher.axes.any()  # fitted at the merge epoch, 6
    assert teaching == [False, False, True, True, True, False, False, False]
    assert state_teacher.axes.any() and state_teacher.gene_fraction.sum(1).gt(0).any()
    schedule.on_train_end(None, None)
    assert not state_teacher.teaching
    # a later training of the trained model teaches nothing and keeps the axes
    model.is_trained_ = True
    axes = state_teacher.axes.clone()
    later = model.type_start.schedule(model, np.arange(small_adata.n_obs), max_epochs=12)
    later.on_train_epoch_start(SimpleNamespace(current_epoch=6), None)
    assert not state_teacher.teaching and torch.equal(state_teacher.axes, axes)
