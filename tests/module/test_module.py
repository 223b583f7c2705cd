import pytest
import torch
from scvi import REGISTRY_KEYS

from scmixvae.module import (
    CplMixVAEModule,
    categorical_entropy,
    gaussian_kl,
    perturbed_aitchison_distance,
)

X = REGISTRY_KEYS.X_KEY


def _counts(n=16, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, d), 3.0), generator=g)


def _run(module, x, **kw):
    torch.manual_seed(0)
    return module({X: x}, **kw)


@pytest.mark.parametrize("n_arms", [1, 2, 3])
def test_loss_is_eq7(n_arms):
    module = CplMixVAEModule(
        n_input=12,
        n_slots=3,
        n_arms=n_arms,
        kl_weight=0.5,
        coupling_weight=2.0,
        entropy_weight=0.7,
    )
    inf, gen, out = _run(module, _counts())
    rec = -gen["px"].log_prob(inf["x_arm"]).sum(-1).mean(-1)
    kl = gaussian_kl(inf["s_mean"], inf["s_var"], gen["prior_mean"], gen["prior_var"]).mean(-1)
    ent = categorical_entropy(inf["log_q"])
    dist = perturbed_aitchison_distance(inf["log_c"])
    factor = max(n_arms - 1, 1)
    expected = factor * (rec + 0.5 * kl - 0.7 * ent).sum() + 2.0 * dist.sum()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert inf["log_q"].shape == (n_arms, 16, 3)


def _grads(module, loss):
    module.zero_grad()
    loss.backward(retain_graph=True)
    return {
        n: (p.grad is not None and p.grad.abs().sum().item() > 0)
        for n, p in module.named_parameters()
    }


def test_each_term_reaches_the_right_parameters():
    module = CplMixVAEModule(n_input=12, n_slots=3, n_arms=2)
    inf, gen, _ = _run(module, _counts())
    rec = -gen["px"].log_prob(inf["x_arm"]).sum(-1).mean()
    kl = gaussian_kl(inf["s_mean"], inf["s_var"], gen["prior_mean"], gen["prior_var"]).mean()
    ent = categorical_entropy(inf["log_q"]).sum()
    dist = perturbed_aitchison_distance(inf["log_c"]).sum()

    g = _grads(module, dist)
    assert g["category_head.weight"] and g["encoder.layers.0.weight"]
    assert not g["decoder_out.weight"] and not g["state_head.weight"]
    g = _grads(module, ent)
    assert g["category_head.weight"] and not g["decoder_out.weight"]
    g = _grads(module, rec)
    assert g["decoder_out.weight"] and g["log_dispersion"] and g["category_head.weight"]
    assert g["state_head.weight"] and g["encoder.layers.0.weight"]
    g = _grads(module, kl)
    assert g["prior_mean"] and g["prior_log_var"] and g["state_head.weight"]
    assert not g["decoder_out.weight"]


def test_coupling_reaches_both_arms():
    module = CplMixVAEModule(n_input=12, n_slots=3, n_arms=2)
    inf, _, _ = _run(module, _counts())
    perturbed_aitchison_distance(inf["log_c"]).sum().backward()
    grad = module.category_head.weight.grad
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0


def test_training_augments_and_eval_does_not():
    module = CplMixVAEModule(n_input=12, n_slots=3, n_arms=2, augmentation="thinning")
    x = _counts()
    inf, _, _ = _run(module, x)
    assert not torch.equal(inf["x_arm"][0], inf["x_arm"][1])
    assert not torch.allclose(
        inf["c"].sum(-1).new_ones(1), inf["c"].max(-1).values[:1]
    )  # soft sample
    module.eval()
    inf, _, _ = _run(module, x)
    assert torch.equal(inf["x_arm"][0], x) and torch.equal(inf["x_arm"][1], x)
    assert torch.equal(inf["c"].max(-1).values, torch.ones(2, 16))  # one-hot argmax


def test_temperature_reaches_inference():
    torch.manual_seed(0)  # weights and Gumbel noise: a near-tie would leave a sample soft
    module = CplMixVAEModule(n_input=12, n_slots=3, n_arms=2)
    cold = module.inference(_counts(), temperature=1e-5)["c"]
    assert torch.allclose(cold.max(-1).values, torch.ones(2, 16), atol=1e-3)
    warm = module.inference(_counts(), temperature=10.0)["c"]
    assert warm.max(-1).values.max() < 0.9


@pytest.mark.parametrize("likelihood", ["nb", "zinb", "normal", "bernoulli"])
def test_likelihoods_give_finite_loss(likelihood):
    x = _counts()
    if likelihood == "bernoulli":
        x = (x > 2).float()
    elif likelihood == "normal":
        x = torch.log1p(x)
    module = CplMixVAEModule(n_input=12, n_slots=3, likelihood=likelihood)
    _, _, out = _run(module, x)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert module.decoder_out.weight.grad.abs().sum() > 0


def test_standard_prior_and_batch_covariate():
    module = CplMixVAEModule(n_input=12, n_slots=3, state_prior="standard", n_batch=2)
    assert not hasattr(module, "prior_mean")
    x = _counts()
    batch = torch.tensor([0, 1] * 8).reshape(-1, 1)
    torch.manual_seed(0)
    inf, gen, out = module({X: x, REGISTRY_KEYS.BATCH_KEY: batch})
    assert torch.equal(gen["prior_mean"], torch.zeros_like(inf["s"]))
    out.loss.backward()
    # the batch one-hot feeds the decoder's first layer (its last input rows)
    assert module.decoder.layers[0].weight.grad[:, -2:].abs().sum() > 0


def test_decoder_reads_the_log_depth_of_count_data_only():
    module = CplMixVAEModule(n_input=12, n_slots=3).eval()
    # inputs of the decoder's first layer: c (3), s (2), log depth (1)
    assert module.depth_in_decoder and module.decoder.layers[0].weight.shape[1] == 6
    c = torch.eye(3)[[0, 0, 0]].expand(2, 3, 3)
    s = torch.zeros(2, 3, 2)
    library = torch.tensor([[1e3], [4e3], [0.0]]).expand(2, 3, 1)
    with torch.no_grad():
        px = module.decode(c, s, library)
        proportions = px.mu / library.clamp(min=1.0)
        # the same type and state at another depth: other proportions; no counts: finite
        assert not torch.allclose(proportions[:, 0], proportions[:, 1])
        assert torch.isfinite(px.mu).all()
        # the depth read and the library that scales the mean are separate
        per_10k = module.decode(c, s, torch.full_like(library, 1e4), depth=library).mu
        torch.testing.assert_close(per_10k[:, :2] / 1e4, proportions[:, :2])
    for settings in ({"depth_in_decoder": False}, {"likelihood": "normal"}):
        plain = CplMixVAEModule(n_input=12, n_slots=3, **settings)
        assert not plain.depth_in_decoder and not hasattr(plain, "depth_norm")
        assert plain.decoder.layers[0].weight.shape[1] == 5


def test_constructor_errors():
    with pytest.raises(ValueError, match="likelihood"):
        CplMixVAEModule(n_input=4, n_slots=2, likelihood="poisson")
    with pytest.raises(ValueError, match="state_prior"):
        CplMixVAEModule(n_input=4, n_slots=2, state_prior="mixture")
    with pytest.raises(ValueError, match="needs raw counts"):
        CplMixVAEModule(n_input=4, n_slots=2, likelihood="normal", augmentation="thinning")
    with pytest.raises(ValueError, match="needs 9 features per row, the data have 4"):
        CplMixVAEModule(
            n_input=4,
            n_slots=2,
            augmentation="affine",
            augmentation_kwargs={"image_shape": (3, 3)},
        )


def test_category_head_reads_the_hidden_layer_after_a_taught_start_and_z_after_a_cold_one():
    module = CplMixVAEModule(n_input=12, n_slots=3, initialization="kmeans")
    assert module.category_head.weight.shape == (2, 100, 3)
    inf, _, _ = _run(module, _counts())
    assert inf["log_q"].shape == (2, 16, 3)
    # q does not pass through the bottleneck: the entropy's gradient skips encoder_out
    g = _grads(module, categorical_entropy(inf["log_q"]).sum())
    assert g["category_head.weight"] and g["encoder.layers.0.weight"]
    assert not g["encoder_out.0.weight"]
    cold = CplMixVAEModule(n_input=12, n_slots=3, initialization="random")  # on z
    assert cold.category_head.weight.shape == (2, 10, 3)
    inf, _, _ = _run(cold, _counts())
    assert _grads(cold, categorical_entropy(inf["log_q"]).sum())["encoder_out.0.weight"]


def test_classify_reads_the_decoders_or_the_category_head():
    module = CplMixVAEModule(n_input=12, n_slots=3, type_readout="decoder").eval()
    x_arm = _counts().expand(2, 16, 12)
    library = module.library_size(x_arm)
    z, log_q = module.encode(x_arm, library)
    scores = module.category_scores(x_arm, z, library)
    _, log_p = module.classify(x_arm)
    # each arm's mixture with equal weights: p(c | x) = exp(-score_c) / sum_k exp(-score_k)
    assert torch.allclose(log_p, torch.log_softmax(-scores, -1))
    module.mask_category(1)
    assert torch.isneginf(module.classify(x_arm)[1][..., 1]).all()
    module.type_readout = "encoder"
    assert torch.equal(module.classify(x_arm)[1], module.encode(x_arm)[1])
    with pytest.raises(ValueError, match="type_readout"):
        CplMixVAEModule(n_input=12, n_slots=3, type_readout="head")


def test_category_scores_differ_between_categories_as_the_full_likelihood_does():
    module = CplMixVAEModule(n_input=12, n_slots=3, type_readout="decoder").eval()
    x_arm = _counts().expand(2, 16, 12)
    library = module.library_size(x_arm)
    with torch.no_grad():
        module.log_dispersion.fill_(0.7)  # at θ = 1 the left-out terms happen to sum to 0
        z, _ = module.encode(x_arm, library)
        full = []
        for category in range(3):
            c = torch.zeros(2, 16, 3)
            c[..., category] = 1.0
            s_mean, s_var = module.state_posterior(z, c)
            px = module.decode(c, s_mean, library)
            kl = gaussian_kl(s_mean, s_var, *module.state_prior_params(c))
            full.append(-px.log_prob(x_arm).sum(-1) + kl)
    full = torch.stack(full, -1)
    scores = module.category_scores(x_arm, z, library)
    # the same up to a constant per cell and arm (the counts' and dispersion's own terms)
    shift = full - scores
    assert torch.allclose(shift, shift[..., :1].expand_as(shift), atol=1e-3)
    assert not torch.allclose(shift, torch.zeros_like(shift))


def test_arm_copy_scores_as_that_arm_of_the_full_module():
    module = CplMixVAEModule(n_input=12, n_slots=3, n_arms=3, n_batch=2).eval()
    with torch.no_grad():  # arms that differ in every arm-indexed tensor, statistics included
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.dtype.is_floating_point:
                tensor.add_(torch.randn_like(tensor) * 0.1)
    x = _counts()
    batch = torch.randint(0, 2, (16, 1))
    x_arm = x.expand(3, *x.shape)
    library = module.library_size(x_arm)
    z, _ = module.encode(x_arm, library)
    every_arm = module.category_scores(x_arm, z, library, batch)
    arm = module.arm(2)
    assert arm.n_arms == 1 and module.n_arms == 3
    assert arm.decoder_out.weight.shape == (1, 100, 12) and arm.teacher.centroids.shape[0] == 1
    z_arm, _ = arm.encode(x[None], library[2:])
    assert torch.allclose(z_arm, z[2:], atol=1e-5)
    scores = arm.category_scores(x[None], z_arm, library[2:], batch)
    assert torch.allclose(scores, every_arm[2:], rtol=1e-5)
    assert not torch.allclose(scores, every_arm[:1], rtol=1e-3)
