import torch
from torch import nn

from scmixvae.module import ArmBatchNorm, ArmLinear, ArmMLP, once_if_shared


def test_arm_linear_equals_independent_linears():
    layer = ArmLinear(n_arms=3, n_in=5, n_out=4)
    x = torch.randn(3, 7, 5)
    out = layer(x)
    for a in range(3):
        ref = nn.Linear(5, 4)
        with torch.no_grad():
            ref.weight.copy_(layer.weight[a].T)
            ref.bias.copy_(layer.bias[a, 0])
        assert torch.allclose(out[a], ref(x[a]), atol=1e-6)


def test_arm_linear_gradients_stay_in_their_arm():
    layer = ArmLinear(n_arms=2, n_in=3, n_out=2)
    layer(torch.randn(2, 4, 3))[0].sum().backward()
    assert layer.weight.grad[0].abs().sum() > 0
    assert layer.weight.grad[1].abs().sum() == 0


def test_arm_batchnorm_matches_torch():
    torch.manual_seed(0)
    ours = ArmBatchNorm(n_arms=2, n_features=3, momentum=0.01)
    refs = [nn.BatchNorm1d(3, affine=False, momentum=0.01) for _ in range(2)]
    for _ in range(3):
        x = torch.randn(2, 10, 3) * 3 + 1
        out = ours(x)
        for a in range(2):
            assert torch.allclose(out[a], refs[a](x[a]), atol=1e-5)
    ours.eval()
    x = torch.randn(2, 5, 3)
    for a in range(2):
        refs[a].eval()
        assert torch.allclose(ours(x)[a], refs[a](x[a]), atol=1e-5)


def test_arm_mlp_shape_and_independence():
    mlp = ArmMLP(n_arms=2, widths=[6, 5, 4])
    x = torch.randn(2, 8, 6)
    out = mlp(x)
    assert out.shape == (2, 8, 4)
    x2 = x.clone()
    x2[1] += 10.0  # changing arm 1's input leaves arm 0 unchanged
    assert torch.allclose(mlp(x2)[0], out[0])


def test_once_if_shared_computes_one_slice_of_expanded_arms():
    calls = []

    def log1p(x):
        calls.append(x.shape)
        return torch.log1p(x)

    x = torch.rand(5, 3)
    shared = once_if_shared(log1p, x.expand(4, 5, 3))
    assert calls == [(1, 5, 3)] and shared.shape == (4, 5, 3)
    assert torch.equal(shared[3], torch.log1p(x))
    distinct = torch.rand(4, 5, 3)  # augmented arms: computed as a whole
    assert torch.equal(once_if_shared(log1p, distinct), torch.log1p(distinct))
    assert calls[-1] == (4, 5, 3)


def test_arm_batchnorm_without_momentum_averages_every_cell_seen():
    torch.manual_seed(0)
    norm = ArmBatchNorm(n_arms=2, n_features=3, momentum=None)
    batches = [torch.randn(2, 4, 3) * 2 + 1, torch.randn(2, 12, 3) - 3]
    for x in batches:
        norm(x)
    # by hand: each batch's mean and unbiased variance, weighted by its 4 and 12 cells
    means = [x.mean(1, keepdim=True) for x in batches]
    variances = [x.var(1, keepdim=True) for x in batches]
    assert norm.n_cells_seen == 16
    assert torch.allclose(norm.running_mean, (4 * means[0] + 12 * means[1]) / 16, atol=1e-6)
    assert torch.allclose(norm.running_var, (4 * variances[0] + 12 * variances[1]) / 16, atol=1e-5)
    norm.reset_running_stats()
    assert norm.n_cells_seen == 0
    assert torch.equal(norm.running_mean, torch.zeros(2, 1, 3))
    assert torch.equal(norm.running_var, torch.ones(2, 1, 3))
