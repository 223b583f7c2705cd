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
