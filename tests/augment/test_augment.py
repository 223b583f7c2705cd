import pytest
import torch

from scmixvae.augment import (
    Augmenter,
    BinomialThinning,
    InputDropout,
    NoAugmentation,
    RandomAffine,
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


def _asymmetric_images(n: int = 3, size: int = 8) -> torch.Tensor:
    images = torch.zeros(n, 1, size, size)
    images[:, :, 1:3, 1:6] = 1.0  # a bar near the top
    images[:, :, 3:6, 1:2] = 0.5  # a stem on the left
    return images


def test_affine_identity_and_exact_quarter_turn():
    images = _asymmetric_images()
    augmenter = RandomAffine(image_shape=(8, 8))
    zeros = torch.zeros(3)
    same = augmenter.transform(images, zeros, torch.ones(3), torch.zeros(3, 2))
    assert torch.allclose(same, images, atol=1e-6)
    quarter = augmenter.transform(
        images, torch.full((3,), torch.pi / 2), torch.ones(3), torch.zeros(3, 2)
    )
    # On a square grid a quarter turn moves pixel centres onto pixel centres: exact.
    assert torch.allclose(quarter, torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5)


def test_affine_shift_moves_pixels_right_and_down():
    images = _asymmetric_images()
    augmenter = RandomAffine(image_shape=(8, 8))
    shift = torch.tensor([[0.25, 0.125]]).expand(3, 2)  # 2 pixels right, 1 down
    moved = augmenter.transform(images, torch.zeros(3), torch.ones(3), shift)
    expected = torch.zeros_like(images)
    expected[..., 1:, 2:] = images[..., :-1, :-2]
    assert torch.allclose(moved, expected, atol=1e-6)


def test_affine_copies_differ_per_arm_and_stay_near_input():
    torch.manual_seed(0)
    grid = torch.arange(16.0)
    blob = torch.exp(-((grid[:, None] - 6) ** 2 + (grid[None, :] - 9) ** 2) / 8)
    x = blob.reshape(1, -1).expand(16, -1)
    copies = RandomAffine(image_shape=(1, 16, 16), rotation=10, shift=0.05)(x, n_arms=3)
    assert copies.shape == (3, 16, 256)
    assert not torch.allclose(copies[0], copies[1])
    assert copies.min() >= 0 and copies.max() <= 1  # bilinear: stays in the input's range
    # Small transforms: every copy still overlaps its input closely (cosine similarity).
    similarity = torch.nn.functional.cosine_similarity(copies, x, dim=-1)
    assert (similarity > 0.8).all() and (similarity < 1 - 1e-4).all()


def test_affine_errors():
    with pytest.raises(ValueError, match="image_shape"):
        RandomAffine(image_shape=(784,))
    with pytest.raises(ValueError, match="rotation"):
        RandomAffine(image_shape=(4, 4), rotation=-1)
    with pytest.raises(ValueError, match="scale"):
        RandomAffine(image_shape=(4, 4), scale=(1.2, 1.0))
    with pytest.raises(ValueError, match="shift"):
        RandomAffine(image_shape=(4, 4), shift=1.0)
    with pytest.raises(ValueError, match="needs 16 features per row, the data have 20"):
        RandomAffine(image_shape=(4, 4))(torch.zeros(2, 20), n_arms=2)
    assert isinstance(make_augmenter("affine", image_shape=(4, 4)), RandomAffine)
