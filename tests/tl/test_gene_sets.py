import numpy as np
import pytest

import scmixvae
from scmixvae.tl import GENE_SETS, gene_set, marker_genes, match_genes
from scmixvae.tl._gene_sets import resolve_gene_groups


def test_shipped_sets_in_both_organisms():
    for name in GENE_SETS:
        mouse, human = gene_set(name, "mouse"), gene_set(name, "human")
        assert len(mouse) == len(human) >= 10
        assert len(set(mouse)) == len(mouse)
    assert {"Fos", "Egr1", "Arc", "Npas4"} <= set(gene_set("IEG"))
    assert "HPRT1" in gene_set("HKG", "human") and "Hprt" in gene_set("HKG", "mouse")
    assert gene_set("HKG", "human")[:2] == ["ACTB", "GAPDH"]


@pytest.mark.parametrize(
    ("args", "message"), [(("XYZ",), "Unknown gene set"), (("IEG", "fly"), "Unknown organism")]
)
def test_gene_set_errors(args, message):
    with pytest.raises(ValueError, match=message):
        gene_set(*args)


def test_match_genes_is_case_insensitive_ordered_and_unique():
    var_names = ["Actb", "FOS", "Cd3e", "Jun"]
    assert match_genes(var_names, ["jun", "Fos", "FOS", "Egr1"]) == ["Jun", "FOS"]
    assert match_genes(var_names, "actb") == ["Actb"]
    with pytest.raises(ValueError, match=r"Only 1 of 2 genes .*missing: \['Egr1'\]"):
        match_genes(var_names, ["Jun", "Egr1"], min_found=2)


def test_resolve_gene_groups_expands_shipped_sets():
    var_names = ["FOS", "JUNB", "ACTB", "HPRT1", "CD3E"]
    groups = resolve_gene_groups(var_names, {"MG": ["cd3e"], "IEG": "IEG", "HKG": "HKG"})
    assert groups == {"MG": ["CD3E"], "IEG": ["FOS", "JUNB"], "HKG": ["ACTB", "HPRT1"]}
    assert resolve_gene_groups(var_names, ["ACTB"]) == {"genes": ["ACTB"]}
    with pytest.raises(ValueError, match="Gene group 'MG'"):
        resolve_gene_groups(var_names, {"MG": ["Sst"]})
    with pytest.raises(ValueError, match="genes is empty"):
        resolve_gene_groups(var_names, {})


def test_marker_genes_recover_the_simulated_markers(small_adata):
    before = small_adata.copy()
    markers = marker_genes(small_adata, "type", n_genes=3, layer="counts")
    assert sorted(markers) == sorted(small_adata.obs["type"].cat.categories)
    truth = small_adata.var["marker_of"]
    for group, genes in markers.items():
        assert len(genes) == 3
        assert (truth[genes] == group).all(), (group, genes, truth[genes].tolist())
    # The user's data are untouched: no normalisation, no results written.
    assert (small_adata.X != before.X).nnz == 0
    assert "rank_genes_groups" not in small_adata.uns and "log1p" not in small_adata.uns
    assert list(marker_genes(small_adata, "type", n_genes=1, groups=["T01"])) == ["T01"]


def test_marker_genes_errors(small_adata):
    with pytest.raises(ValueError, match="annotate"):
        marker_genes(small_adata, "cplmix_type")
    with pytest.raises(ValueError, match="Layer 'raw' not found"):
        marker_genes(small_adata, "type", layer="raw")
    with pytest.raises(ValueError, match="n_genes must be"):
        marker_genes(small_adata, "type", n_genes=0)
    with pytest.raises(ValueError, match=r"\['T99'\]"):
        marker_genes(small_adata, "type", groups=["T99"])


def test_marker_genes_skip_singleton_types():
    adata = scmixvae.datasets.simulate(n_cells=60, n_types=3, n_genes=40, n_programme_genes=5)
    adata.obs["type"] = adata.obs["type"].cat.add_categories("lonely")
    adata.obs.iloc[0, adata.obs.columns.get_loc("type")] = "lonely"
    markers = marker_genes(adata, "type", n_genes=2)
    assert "lonely" not in markers and len(markers) == 3
    assert np.all([len(v) == 2 for v in markers.values()])
