import pytest
import torch

from scmixvae.module import CplMixVAEModule
from scmixvae.train import CplMixVAETrainingPlan


def test_constant_temperature_by_default():
    plan = CplMixVAETrainingPlan(CplMixVAEModule(5, 2))
    assert plan.temperature_at(0) == plan.temperature_at(100) == 1.0


def test_exponential_annealing():
    plan = CplMixVAETrainingPlan(
        CplMixVAEModule(5, 2), temperature=2.0, min_temperature=0.5, n_epochs_temperature=4
    )
    assert [plan.temperature_at(e) for e in (0, 2, 4, 10)] == pytest.approx([2.0, 1.0, 0.5, 0.5])


def test_invalid_temperature():
    with pytest.raises(ValueError, match="temperatures"):
        CplMixVAETrainingPlan(CplMixVAEModule(5, 2), temperature=0.0)


def test_plan_passes_temperature_to_module(monkeypatch):
    module = CplMixVAEModule(5, 3)
    plan = CplMixVAETrainingPlan(module, temperature=1e-4)
    monkeypatch.setattr(CplMixVAETrainingPlan, "current_epoch", property(lambda self: 0))
    x = torch.poisson(torch.full((8, 5), 2.0))
    inf, _, _ = plan.forward({"X": x}, loss_kwargs={"kl_weight": 1.0})
    assert torch.allclose(inf["c"].max(-1).values, torch.ones(2, 8), atol=1e-3)


def test_default_learning_rate_is_measured_one_and_overridable():
    from scmixvae.train._plan import DEFAULT_LR

    assert CplMixVAETrainingPlan(CplMixVAEModule(5, 2)).lr == DEFAULT_LR == 3e-3
    assert CplMixVAETrainingPlan(CplMixVAEModule(5, 2), lr=1e-3).lr == 1e-3
    optimiser = CplMixVAETrainingPlan(CplMixVAEModule(5, 2)).configure_optimizers()["optimizer"]
    assert optimiser.param_groups[0]["lr"] == 3e-3


def test_teacher_phase_follows_epochs(monkeypatch):
    module = CplMixVAEModule(5, 3, initialization="kmeans")
    plan = CplMixVAETrainingPlan(module, n_epochs_teacher=2)
    x = torch.poisson(torch.full((8, 5), 2.0))
    for epoch, expected in [(0, True), (1, True), (2, False)]:
        monkeypatch.setattr(CplMixVAETrainingPlan, "current_epoch", property(lambda s, e=epoch: e))
        inf, _, _ = plan.forward({"X": x}, loss_kwargs={"kl_weight": 1.0})
        assert ("teacher_labels" in inf) is expected
