import pytest
import torch
from scvi import REGISTRY_KEYS

from scmixvae.module import CplMixVAEModule, StateTeacher
from scmixvae.module._cplmixvae_module import STATE_TEACHING_WEIGHT
from scmixvae.module._state_teacher import top_axes


def _programme_counts(n=200, seed=0):
    """Counts of two types; type 0's genes 0-3 follow a per-cell activity."""
    g = torch.Generator().manual_seed(seed)
    activity = torch.rand(n, generator=g) * 2 - 1
    labels = torch.arange(n) % 2
    log_mean = torch.full((n, 20), 1.5)
    log_mean[labels == 1, 10:] += 1.0
    log_mean[:, :4] += (labels == 0)[:, None] * 1.5 * activity[:, None]
    depth = torch.exp(torch.randn(n, 1, generator=g) * 0.4)
    return torch.poisson(depth * log_mean.exp(), generator=g), labels, activity


def test_top_axes_match_the_svd():
    x = torch.randn(50, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    values, vectors = top_axes(x, 2, n_iter=20)
    _, exact_values, exact_vectors = torch.linalg.svd(x, full_matrices=False)
    assert torch.allclose(values, exact_values[:2])
    assert torch.allclose((vectors * exact_vectors[:2].T).sum(0).abs(), torch.ones(2).double())


def test_top_axes_leave_the_global_random_state_alone():
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    top_axes(torch.randn(10, 5, generator=torch.Generator().manual_seed(0)), 2)
    assert torch.equal(torch.rand(1), expected)


def test_the_targets_follow_the_programme_with_unit_variance():
    x, labels, activity = _programme_counts()
    teacher = StateTeacher(20, n_categories=3, n_states=2).fit(x, labels)
    target = teacher.target(x, labels)
    own = labels == 0
    assert target[own].std(0, unbiased=False) == pytest.approx(torch.ones(2), abs=1e-4)
    assert torch.corrcoef(torch.stack([target[own, 0], activity[own]]))[0, 1].abs() > 0.8
    # gene fractions are the type's own; a slot no cell was taught has no axes
    assert teacher.gene_fraction[1].sum() == pytest.approx(1.0)
    assert not teacher.axes[2].any() and not teacher.target(x[:3], torch.full((3,), 2)).any()


def test_a_type_of_too_few_cells_is_not_taught():
    x, labels, _ = _programme_counts(n=40)
    labels[labels == 1] = torch.tensor([1] * 5 + [2] * 15)
    teacher = StateTeacher(20, n_categories=3, n_states=2).fit(x, labels)
    assert not teacher.axes[1].any() and teacher.axes[2].any()


def test_non_count_data_are_centred_not_residualised():
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0]] * 6)
    teacher = StateTeacher(2, n_categories=1, n_states=1, counts=False)
    teacher.fit(x, torch.zeros(12, dtype=torch.long))
    assert teacher.target(x[:2], torch.zeros(2, dtype=torch.long)).abs().squeeze().tolist() == [
        pytest.approx(1.0),
        pytest.approx(1.0),
    ]


def _taught_module(x, labels):
    module = CplMixVAEModule(n_input=20, n_slots=2, initialization="overcluster")
    module.teacher.forward = lambda x_arm: labels.expand(x_arm.shape[:-1])
    module.state_teacher.fit(x, labels)
    return module


def test_the_teaching_term_is_added_and_reaches_the_encoder_and_state_head_only():
    x, labels, _ = _programme_counts(n=32)
    module = _taught_module(x, labels)
    torch.manual_seed(0)
    _, _, untaught = module({REGISTRY_KEYS.X_KEY: x}, inference_kwargs={"use_teacher": True})
    module.state_teacher.teaching = True
    torch.manual_seed(0)
    inf, _, taught = module({REGISTRY_KEYS.X_KEY: x}, inference_kwargs={"use_teacher": True})
    pull = inf["s_mean"] - module.state_teacher.target(inf["x_arm"], inf["teacher_labels"])
    expected = STATE_TEACHING_WEIGHT * pull.square().sum(-1).mean(-1).sum()
    assert (taught.loss - untaught.loss).item() == pytest.approx(expected.item(), rel=1e-4)
    module.zero_grad()
    (taught.loss - untaught.loss).backward()
    reached = {n for n, p in module.named_parameters() if p.grad is not None and p.grad.any()}
    assert "state_head.weight" in reached and "encoder.layers.0.weight" in reached
    assert not any(n.startswith(("decoder", "category_head", "prior")) for n in reached)


def test_no_teaching_outside_training_or_without_teacher_labels():
    x, labels, _ = _programme_counts(n=32)
    module = _taught_module(x, labels)
    module.state_teacher.teaching = True
    inf, _, _ = module({REGISTRY_KEYS.X_KEY: x})
    assert "state_targets" not in inf
    module.eval()
    inf, _, _ = module({REGISTRY_KEYS.X_KEY: x}, inference_kwargs={"use_teacher": True})
    assert "state_targets" not in inf


def test_only_the_overcluster_start_has_a_state_teacher():
    assert CplMixVAEModule(n_input=5, n_slots=2, initialization="kmeans").state_teacher is None
    assert CplMixVAEModule(n_input=5, n_slots=2, initialization="random").state_teacher is None


def test_a_state_dict_without_the_state_teacher_loads():
    module = CplMixVAEModule(n_input=5, n_slots=2, initialization="overcluster")
    module.state_teacher.axes.fill_(1.0)
    weights = {k: v for k, v in module.state_dict().items() if "state_teacher" not in k}
    fresh = CplMixVAEModule(n_input=5, n_slots=2, initialization="overcluster")
    fresh.load_state_dict(weights)
    assert not fresh.state_teacher.axes.any()
    fresh.load_state_dict(module.state_dict())
    assert fresh.state_teacher.axes.eq(1.0).all()
