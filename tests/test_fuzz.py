"""Property-based tests: random small AnnData through the public API.

Every case must end in a valid result or a ValueError with a message; never an error from
inside torch, never NaN outputs, and a failing call leaves the AnnData as it was.
"""

import traceback
import warnings

import anndata
import numpy as np
import pandas as pd
import pytest
import scvi
from conftest import QUIET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import scmixvae


@st.composite
def small_anndata(draw):
    n_obs = draw(st.integers(1, 24))
    n_vars = draw(st.integers(1, 10))
    kind = draw(st.sampled_from(["int_counts", "float_counts", "log_values", "negative"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.poisson(rng.uniform(0.1, 20), size=(n_obs, n_vars)).astype(float)
    if kind == "log_values":
        values = np.log1p(values) * 1.37
    elif kind == "negative":
        values[rng.integers(n_obs), rng.integers(n_vars)] = -1.0
    if draw(st.booleans()):
        values[rng.integers(n_obs)] = 0.0  # a cell with no counts
    if draw(st.booleans()):
        values[:, rng.integers(n_vars)] = 0.0  # a gene never seen
    dtype = np.int64 if kind == "int_counts" else draw(st.sampled_from([np.float32, np.float64]))
    matrix = values.astype(dtype)
    if draw(st.booleans()):
        matrix = sparse.csr_matrix(matrix)
    adata = anndata.AnnData(
        X=matrix,
        obs=pd.DataFrame(index=[f"c{i}" for i in range(n_obs)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(n_vars)]),
    )
    options = {
        "n_arms": draw(st.integers(1, 3)),
        "n_categories": draw(st.integers(2, max(2, n_obs + 1))),  # n_obs + 1 is invalid
        "likelihood": draw(st.sampled_from(["nb", "normal"])),
        "batch_size": draw(st.integers(2, 16)),
    }
    return adata, options


def _snapshot(adata):
    matrix = adata.X.toarray() if sparse.issparse(adata.X) else np.array(adata.X)
    return matrix, list(adata.obs.columns), sorted(adata.uns), sorted(adata.obsm)


def _assert_unchanged(adata, snapshot):
    matrix, obs, uns, obsm = snapshot
    now = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    np.testing.assert_array_equal(now, matrix)
    assert (list(adata.obs.columns), sorted(adata.uns), sorted(adata.obsm)) == (obs, uns, obsm)


def _call(function, adata, *args, **kwargs):
    """Run one public call; on ValueError check the data were left as they were."""
    snapshot = _snapshot(adata)
    try:
        return True, function(*args, **kwargs)
    except ValueError as error:
        assert str(error), "a ValueError needs a message"
        frames = traceback.extract_tb(error.__traceback__)
        assert "scmixvae" in frames[-1].filename, f"not raised by scmixvae: {frames[-1]}"
        _assert_unchanged(adata, snapshot)
        return False, None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=small_anndata())
def test_public_api_on_random_anndata(case):
    adata, options = case
    warnings.simplefilter("ignore")
    scvi.settings.seed = 0
    ok, _ = _call(scmixvae.CplMixVAE.setup_anndata, adata, adata)
    if not ok:
        return
    ok, model = _call(
        scmixvae.CplMixVAE,
        adata,
        adata,
        n_categories=options["n_categories"],
        n_arms=options["n_arms"],
        likelihood=options["likelihood"],
        n_hidden=8,
    )
    if not ok:
        return
    ok, _ = _call(model.train, adata, max_epochs=1, batch_size=options["batch_size"], **QUIET)
    if not ok:
        return
    ok, _ = _call(model.annotate, adata)
    assert ok, "annotate must work on a trained model"
    assert adata.obs["cplmix_type"].notna().all()
    assert np.isfinite(adata.obsm["X_cplmix_state"]).all()
    probabilities = adata.obsm["cplmix_type_prob"]
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-4)
    table = scmixvae.tl.traversal(model, n_steps=2)
    assert np.isfinite(table["expression"]).all()


@pytest.mark.parametrize(("n_obs", "train_size"), [(3, None), (257, None), (129, 1.0)])
def test_minibatches_of_one_cell_are_avoided(n_obs, train_size):
    """BatchNorm cannot train on a minibatch of one cell; such sizes must still train."""
    rng = np.random.default_rng(0)
    adata = anndata.AnnData(rng.poisson(3, size=(n_obs, 5)).astype(np.float32))
    scmixvae.CplMixVAE.setup_anndata(adata)
    model = scmixvae.CplMixVAE(adata, n_categories=2, n_hidden=8)
    model.train(max_epochs=1, batch_size=128, train_size=train_size, **QUIET)
    model.annotate()
    assert adata.obs["cplmix_type"].notna().all()


def test_too_few_cells_or_a_batch_of_one_are_clear_errors():
    adata = anndata.AnnData(np.ones((2, 4), dtype=np.float32))
    scmixvae.CplMixVAE.setup_anndata(adata)
    model = scmixvae.CplMixVAE(adata, n_categories=2, n_hidden=8)
    with pytest.raises(ValueError, match="at least 3 cells"):
        model.train(max_epochs=1, **QUIET)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        model.train(max_epochs=1, batch_size=1, **QUIET)
