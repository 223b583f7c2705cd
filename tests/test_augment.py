import pytest
import torch

from scmixvae.augment import (
    Augmenter,
    BinomialThinning,
    InputDropout,
    NoAugmentation,
    make_augmenter,
)


def test_none_is_identity_per_arm():
    x = torch.randn(5, 3)
    out = NoAugmentation()(x, n_arms=3)
    assert out.shape == (3, 5, 3) and all(torch.equal(out[a], x) for a in range(3))


def test_dropout_masks_independently_per_arm():
    torch.manual_seed(0)
    x = torch.ones(200, 100)
    out = InputDropout(rate=0.3)(x, n_arms=2)
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert not torch.equal(out[0], out[1])
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # no rescaling: counts stay counts


def test_thinning_keeps_integers_below_input():
    torch.manual_seed(0)
    x = torch.poisson(torch.full((300, 20), 10.0))
    out = BinomialThinning(keep=0.6)(x, n_arms=2)
    assert torch.equal(out, out.round()) and (out <= x).all()
    assert out.sum().item() / (2 * x.sum().item()) == pytest.approx(0.6, abs=0.01)
    assert not torch.equal(out[0], out[1])


def test_make_augmenter_and_errors():
    assert isinstance(make_augmenter("dropout", rate=0.1), InputDropout)
    custom = NoAugmentation()
    assert make_augmenter(custom) is custom
    with pytest.raises(ValueError, match="Unknown augmentation"):
        make_augmenter("mixup")
    with pytest.raises(ValueError, match="rate"):
        InputDropout(rate=1.0)
    with pytest.raises(ValueError, match="keep"):
        BinomialThinning(keep=0.0)
    with pytest.raises(NotImplementedError):
        Augmenter()(torch.zeros(1, 1), 1)
