"""Gene sets for reading the state: shipped IEG / HKG lists, data-driven markers, user lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData

# Immediate early genes: activity-induced in neurons and in other cells (Hrvatin et al. 2018,
# Nat. Neurosci. 21:120, "Single-cell analysis of experience-dependent transcriptomic states
# in the mouse visual cortex"; Wu et al. 2017, Neuron 96:313, "Detecting activated cell
# populations using single-cell RNA-seq"). Mouse symbols; human orthologues upper case.
_IEG_MOUSE = (
    "Fos", "Fosb", "Jun", "Junb", "Egr1", "Egr2", "Egr3", "Egr4", "Arc", "Npas4",
    "Nr4a1", "Nr4a2", "Nr4a3", "Ier2", "Dusp1", "Atf3", "Btg2",
)  # fmt: skip
# Housekeeping genes: the classic reference genes (Vandesompele et al. 2002, Genome Biol.
# 3:research0034; Eisenberg & Levanon 2013, Trends Genet. 29:569, "Human housekeeping genes,
# revisited"). Mouse symbols; the human symbols differ only for Hprt (HPRT1).
_HKG_MOUSE = (
    "Actb", "Gapdh", "B2m", "Hprt", "Ppia", "Rplp0", "Tbp", "Pgk1", "Ubc", "Ywhaz",
)  # fmt: skip
_HUMAN_EXCEPTIONS = {"Hprt": "HPRT1"}

#: Names accepted by :func:`gene_set`.
GENE_SETS = ("IEG", "HKG")
#: Organisms accepted by :func:`gene_set`.
ORGANISMS = ("mouse", "human")


def gene_set(name: str, organism: str = "mouse") -> list[str]:
    """Return a shipped, cited gene list: immediate early genes or housekeeping genes.

    Parameters
    ----------
    name
        ``"IEG"`` (immediate early genes; Hrvatin et al. 2018, Wu et al. 2017) or ``"HKG"``
        (housekeeping genes; Vandesompele et al. 2002, Eisenberg & Levanon 2013).
    organism
        ``"mouse"`` (symbols like ``Fos``) or ``"human"`` (orthologues, like ``FOS``).

    Returns
    -------
    Gene symbols.

    Examples
    --------
    >>> gene_set("IEG", "human")[:4]
    ['FOS', 'FOSB', 'JUN', 'JUNB']

    """
    if name not in GENE_SETS:
        raise ValueError(f"Unknown gene set {name!r}; choose one of {GENE_SETS}.")
    if organism not in ORGANISMS:
        raise ValueError(f"Unknown organism {organism!r}; choose one of {ORGANISMS}.")
    genes = _IEG_MOUSE if name == "IEG" else _HKG_MOUSE
    if organism == "mouse":
        return list(genes)
    return [_HUMAN_EXCEPTIONS.get(gene, gene.upper()) for gene in genes]


def match_genes(var_names: Iterable[str], genes: Iterable[str], *, min_found: int = 1) -> list[str]:
    """Return the genes of a list present in ``var_names``, matched case-insensitively.

    Returns the names as spelled in ``var_names``, in the order of ``genes``, without
    duplicates. Fewer than ``min_found`` matches is an error that names the missing genes.

    Examples
    --------
    >>> match_genes(["FOS", "ACTB", "CD3E"], ["Fos", "Jun", "Actb"])
    ['FOS', 'ACTB']

    """
    genes = [genes] if isinstance(genes, str) else list(genes)
    lookup: dict[str, str] = {}
    for name in var_names:
        lookup.setdefault(str(name).lower(), str(name))
    found = list(dict.fromkeys(lookup[g.lower()] for g in genes if g.lower() in lookup))
    if len(found) < min_found:
        missing = [g for g in genes if g.lower() not in lookup]
        raise ValueError(
            f"Only {len(found)} of {len(genes)} genes are in the data (need {min_found}); "
            f"missing: {missing[:10]}{' ...' if len(missing) > 10 else ''}. "
            "Check the organism and that var_names hold gene symbols."
        )
    return found


def marker_genes(
    adata: AnnData,
    groupby: str = "cplmix_type",
    *,
    n_genes: int = 5,
    layer: str | None = None,
    groups: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Marker genes of each inferred type, by scanpy's Wilcoxon test on log-normalised counts.

    The data are depth-normalised to 10,000 counts and log1p-transformed in a private copy,
    so the user's AnnData is not changed.

    Parameters
    ----------
    adata
        Cells × genes, with the grouping in ``obs[groupby]``.
    groupby
        Column of types, e.g. ``"cplmix_type"`` written by ``CplMixVAE.annotate``.
    n_genes
        Markers per type (the top-ranked up-regulated genes).
    layer
        Layer holding raw counts; ``None`` uses ``X``.
    groups
        Types to return; ``None`` for all with at least 2 cells.

    Returns
    -------
    ``{type: [genes]}``, the types in decreasing order of size.

    Examples
    --------
    >>> import scmixvae
    >>> adata = scmixvae.datasets.simulate(n_cells=200, n_types=3, n_genes=100)
    >>> markers = marker_genes(adata, "type", n_genes=2)
    >>> sorted(markers)
    ['T00', 'T01', 'T02']

    """
    if groupby not in adata.obs:
        raise ValueError(
            f"{groupby!r} is not a column of adata.obs; run model.annotate() first or pass "
            "the column holding the types."
        )
    if layer is not None and layer not in adata.layers:
        raise ValueError(f"Layer {layer!r} not found; available: {list(adata.layers)}.")
    if n_genes < 1:
        raise ValueError(f"n_genes must be >= 1, got {n_genes}.")
    labels = adata.obs[groupby].astype(str)
    sizes = labels.value_counts()
    usable = sizes.index[sizes >= 2]
    wanted = list(usable) if groups is None else [str(g) for g in groups]
    unknown = [g for g in wanted if g not in usable]
    if unknown:
        raise ValueError(f"Types {unknown} are not in obs[{groupby!r}] with at least 2 cells.")
    work = AnnData(
        X=(adata.X if layer is None else adata.layers[layer]).copy(),
        obs=pd.DataFrame({"group": pd.Categorical(labels)}, index=adata.obs_names),
        var=pd.DataFrame(index=adata.var_names),
    )
    work = work[work.obs["group"].isin(usable)].copy()
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    sc.tl.rank_genes_groups(work, "group", groups=wanted, method="wilcoxon", n_genes=n_genes)
    names = work.uns["rank_genes_groups"]["names"]
    return {group: [str(g) for g in np.asarray(names[group])] for group in wanted}


def resolve_gene_groups(
    var_names: Iterable[str], genes: Mapping[str, Iterable[str]] | Iterable[str]
) -> dict[str, list[str]]:
    """Turn a user's gene groups into names present in the data.

    ``genes`` is a list, or a mapping from a group name (``"MG"``, ``"IEG"``, ...) to a list;
    a value that is the name of a shipped set (``"IEG"`` / ``"HKG"``, mouse then human
    symbols tried) is expanded. Every group must keep at least one gene.

    Examples
    --------
    >>> resolve_gene_groups(["Fos", "Actb", "Sst"], {"MG": ["Sst"], "IEG": "IEG"})
    {'MG': ['Sst'], 'IEG': ['Fos']}

    """
    var_names = list(var_names)
    if isinstance(genes, Mapping):
        groups = dict(genes)
    else:
        groups = {"genes": genes}
    if not groups:
        raise ValueError("genes is empty; pass a list of genes or {group: [genes]}.")
    resolved = {}
    for group, members in groups.items():
        if isinstance(members, str) and members in GENE_SETS:
            members = gene_set(members, "mouse") + gene_set(members, "human")
        try:
            resolved[str(group)] = match_genes(var_names, members)
        except ValueError as error:
            raise ValueError(f"Gene group {group!r}: {error}") from None
    return resolved
