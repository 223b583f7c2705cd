"""Data larger than memory: an h5ad opened with ``backed="r"`` is read minibatch by minibatch."""

import anndata
import numpy as np
import pytest
import scvi
from conftest import QUIET
from scipy import sparse

from scmixvae import CplMixVAE


@pytest.fixture
def backed_path(small_adata, tmp_path):
    adata = small_adata.copy()
    adata.X = sparse.csr_matrix(adata.layers.pop("counts"))
    path = tmp_path / "counts.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("initialization", ["random", "kmeans"])
def test_backed_h5ad_trains_and_matches_in_memory(backed_path, initialization):
    backed = anndata.read_h5ad(backed_path, backed="r")
    in_memory = anndata.read_h5ad(backed_path)
    assert backed.isbacked and not sparse.issparse(backed.X)  # an on-disk dataset
    models = []
    for adata in (backed, in_memory):
        scvi.settings.seed = 0
        CplMixVAE.setup_anndata(adata)
        model = CplMixVAE(adata, n_categories=4, n_hidden=16, initialization=initialization)
        model.train(max_epochs=2, batch_size=64, **QUIET)
        models.append(model)
    # Same seed, same cells; the on-disk loader orders rows within a minibatch differently,
    # so the Gumbel and state noise fall on other cells: close, not equal.
    losses = [m.history["train_loss"].to_numpy(dtype=float) for m in models]
    assert np.allclose(*losses, rtol=0.02)
    # Inference is deterministic: reading from disk or memory gives the same answers.
    on_disk = models[0].get_consensus()
    from_memory = models[0].get_consensus(adata=in_memory)
    assert (on_disk["type"] == from_memory["type"]).all()
    assert np.allclose(on_disk["confidence"], from_memory["confidence"], atol=1e-6)
    models[0].annotate()
    assert backed.obs["cplmix_type"].notna().all()
    assert np.isfinite(backed.obsm["X_cplmix_state"]).all()


def test_backed_h5ad_bad_values_are_refused(small_adata, tmp_path):
    adata = small_adata.copy()
    adata.X = sparse.csr_matrix(adata.layers.pop("counts") * 0.5)
    path = tmp_path / "halves.h5ad"
    adata.write_h5ad(path)
    backed = anndata.read_h5ad(path, backed="r")
    CplMixVAE.setup_anndata(backed)
    with pytest.raises(ValueError, match="non-negative integer counts"):
        CplMixVAE(backed, n_categories=4)
