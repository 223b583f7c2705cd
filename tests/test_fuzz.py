"""Property-based tests: random small AnnData through the public API.

Every case must end in a valid result or a ValueError with a message; never an error from
inside torch, never NaN outputs, and a failing call leaves the AnnData as it was.
"""

import json
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


# ---- saved model files: any damage is a ValueError, never another error ----------------------
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    adata = scmixvae.datasets.simulate(n_cells=120, n_types=3, n_genes=60, n_programme_genes=10)
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=3, n_hidden=8, initialization="random")
    model.train(max_epochs=1, **QUIET)
    folder = tmp_path_factory.mktemp("saved") / "model"
    model.save(folder)
    return folder, adata


def _replace_somewhere(document, path, value):
    """Replace the value found by following ``path`` (indices into keys or items)."""
    node = document
    for step in path:
        children = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not children:
            break
        key = children[step % len(children)]
        if not isinstance(node[key], dict | list):
            node[key] = value
            return
        node = node[key]
    if isinstance(node, dict):
        node["planted"] = value
    else:
        node.append(value)


plain_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["__ndarray__", "dtype", "shape", "x"]), children)
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    damage=st.sampled_from(["bytes", "json"]),
    file=st.sampled_from(["model.json", "model.safetensors"]),
    position=st.floats(0, 1),
    payload=st.binary(max_size=16),
    path=st.lists(st.integers(0, 50), min_size=1, max_size=6),
    value=plain_json,
)
def test_damaged_model_files_are_refused_with_a_value_error(
    saved_model, tmp_path_factory, damage, file, position, payload, path, value
):
    source, adata = saved_model
    folder = tmp_path_factory.mktemp("damaged") / "model"
    folder.mkdir()
    for name in ("model.json", "model.safetensors"):
        (folder / name).write_bytes((source / name).read_bytes())
    if damage == "bytes":
        content = (folder / file).read_bytes()
        cut = int(position * len(content))
        (folder / file).write_bytes(content[:cut] + payload + content[cut + len(payload) :])
    else:
        document = json.loads((folder / "model.json").read_text())
        _replace_somewhere(document, path, value)
        (folder / "model.json").write_text(json.dumps(document))
    try:
        scmixvae.CplMixVAE.load(folder, adata=adata.copy())
    except ValueError as error:
        assert str(error)


# ---- command-line arguments: a bad value is exit code 1 or 2 with a message, never a crash ---
@pytest.fixture(scope="module")
def cli_input(tmp_path_factory):
    adata = scmixvae.datasets.simulate(n_cells=60, n_types=2, n_genes=40, n_programme_genes=10)
    adata.obsm["X_umap"] = np.random.default_rng(0).normal(size=(60, 2))  # no UMAP to fit
    path = tmp_path_factory.mktemp("cli") / "in.h5ad"
    adata.write_h5ad(path)
    return path


def _options(names_and_values):
    return st.lists(st.sampled_from(names_and_values), max_size=5, unique_by=lambda o: o[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    output=st.sampled_from(["o.h5ad", "o.csv", "deep/o.h5ad", "IN", "DIR"]),
    n_types=st.sampled_from(["0", "1", "2", "-4", "x", "2.5", "1000"]),
    options=_options(
        [
            ("--max-epochs", "1"), ("--max-epochs", "0"), ("--max-epochs", "-1"),
            ("--max-epochs", "2.5"), ("--max-epochs", "abc"), ("--n-arms", "0"),
            ("--n-arms", "1"), ("--n-arms", "x"), ("--layer", "counts"), ("--layer", "nope"),
            ("--likelihood", "normal"), ("--likelihood", "gamma"), ("--batch-key", "type"),
            ("--batch-key", "nope"), ("--label-key", "nope"), ("--accelerator", "tpu"),
            ("--seed", "-3"), ("--overwrite", None), ("--augmentation", "affine"),
        ]
    ),
)  # fmt: skip
def test_cli_arguments_never_crash(cli_input, tmp_path_factory, output, n_types, options):
    from scmixvae import cli

    warnings.simplefilter("ignore")
    folder = tmp_path_factory.mktemp("run")
    (folder / "DIR").mkdir()
    source = folder / "in.h5ad"
    source.write_bytes(cli_input.read_bytes())
    out = str(source) if output == "IN" else str(folder / output)
    argv = ["fit", str(source), "-o", out, "--n-types", n_types, "--quiet"]
    argv += ["--max-epochs", "1"] if "--max-epochs" not in dict(options) else []
    for name, value in options:
        argv += [name] if value is None else [name, value]
    try:
        code = cli.main(argv)
    except SystemExit as usage:  # argparse: a value outside the choices, or not a number
        assert usage.code == 2
        return
    assert code in (0, cli.EXIT_BAD_INPUT, cli.EXIT_TRAINING_FAILED), argv
