import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

from scmixvae import tl


def test_matched_accuracy_hand_checked():
    labels = [0, 0, 0, 1, 1, 2]
    reference = ["a", "a", "b", "b", "b", "b"]
    # best matching: 0->a (2 cells), 1->b (2 cells); cluster 2 unmatched (only 2 references)
    assert tl.matched_accuracy(labels, reference) == pytest.approx(4 / 6)


def test_matched_accuracy_more_references_than_clusters():
    assert tl.matched_accuracy([0, 0, 0, 0], ["a", "b", "c", "c"]) == pytest.approx(0.5)


def test_ari_nmi_perfect_and_permuted():
    ref = ["x"] * 5 + ["y"] * 5
    perm = [1] * 5 + [0] * 5
    assert tl.adjusted_rand_index(perm, ref) == pytest.approx(1.0)
    assert tl.normalized_mutual_info(perm, ref) == pytest.approx(1.0)
    assert tl.adjusted_rand_index([0] * 10, ref) == pytest.approx(0.0)


def test_length_mismatch_and_empty():
    with pytest.raises(ValueError, match="differ in length"):
        tl.matched_accuracy([0, 1], ["a"])
    with pytest.raises(ValueError, match="empty"):
        tl.adjusted_rand_index([], [])


def test_evaluate_excludes_labels():
    adata = AnnData(np.zeros((6, 1)))
    adata.obs["pred"] = ["0", "0", "1", "1", "1", "2"]
    adata.obs["truth"] = ["a", "a", "b", "b", "b", "(none)"]
    scores = tl.evaluate(adata, "pred", "truth", exclude=["(none)"])
    assert scores == {
        "acc": 1.0,
        "ari": 1.0,
        "nmi": 1.0,
        "n_clusters": 2,
        "n_reference": 2,
        "n_cells": 5,
    }
    with pytest.raises(ValueError, match="not a column"):
        tl.evaluate(adata, "missing", "truth")


def test_contingency_counts():
    table = tl.contingency(["0", "1", "1"], ["a", "a", "b"])
    assert table.loc["1", "a"] == 1 and table.to_numpy().sum() == 3


def test_evaluate_leaves_out_cells_without_a_reference_label():
    adata = AnnData(np.zeros((5, 1)))
    adata.obs["pred"] = ["0", "0", "1", "1", "1"]
    adata.obs["truth"] = pd.Categorical(["a", "a", "b", None, None])
    with pytest.warns(UserWarning, match="2 of 5 cells have no label"):
        scores = tl.evaluate(adata, "pred", "truth")
    assert scores["n_cells"] == 3 and scores["acc"] == 1.0 and scores["n_reference"] == 2
    adata.obs["truth"] = pd.Categorical([None] * 5, categories=["a"])
    with pytest.raises(ValueError, match="No cell is left"), pytest.warns(UserWarning):
        tl.evaluate(adata, "pred", "truth")


def _annotated(types, truth, confidence) -> AnnData:
    adata = AnnData(np.zeros((len(types), 1)))
    adata.obs["cplmix_type"], adata.obs["truth"] = types, truth
    adata.obs["cplmix_confidence"] = confidence
    return adata


def test_calibration_bins_by_hand():
    # types 0 -> a, 1 -> b after matching; the cells of 0 labelled b are wrong
    adata = _annotated(
        ["0", "0", "0", "1", "1", "1"],
        ["a", "a", "b", "b", "b", "b"],
        [0.95, 0.35, 0.15, 1.0, 0.9, 0.65],
    )
    bins = tl.calibration(adata, "truth", n_bins=4)
    assert bins["low"].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert bins["high"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert bins["n_cells"].tolist() == [1, 1, 1, 3]
    assert bins["accuracy"].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert np.allclose(bins["confidence"], [0.15, 0.35, 0.65, (0.95 + 1.0 + 0.9) / 3])
    # a key_added other than the default, and an empty bin left out
    adata.obs["mix_type"], adata.obs["mix_confidence"] = adata.obs["cplmix_type"], 0.9
    assert tl.calibration(adata, "truth", key="mix", n_bins=2)["n_cells"].tolist() == [6]


def test_calibration_errors_and_missing_labels():
    adata = _annotated(["0", "1", "1"], pd.Categorical(["a", "b", None]), [0.5, 0.9, 0.9])
    with pytest.warns(UserWarning, match="1 of 3 cells have no label"):
        assert tl.calibration(adata, "truth")["n_cells"].sum() == 2
    with pytest.raises(ValueError, match="not a column"):
        tl.calibration(adata, "truth", key="missing")
    with pytest.raises(ValueError, match="n_bins must be"):
        tl.calibration(adata.copy(), "truth", n_bins=0)
    adata.obs["cplmix_confidence"] = [0.5, 1.5, 0.9]
    with pytest.raises(ValueError, match="outside"), pytest.warns(UserWarning):
        tl.calibration(adata, "truth")
