import json

import anndata
import scvi

from scmixvae import cli, datasets


def test_run_on_a_file_writes_everything(tmp_path, capsys):
    adata = datasets.simulate(n_cells=200, n_types=4, n_genes=60, n_programme_genes=10)
    path = tmp_path / "sim.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "out"
    cli.main(
        [
            "run",
            "--data",
            str(path),
            "--layer",
            "counts",
            "--label-key",
            "type",
            "--max-epochs",
            "2",
            "--out",
            str(out),
            "--accelerator",
            "cpu",
        ]
    )
    printed = capsys.readouterr().out
    assert "categories_used" in printed and "acc" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_categories"] == 4 and 0 <= summary["acc"] <= 1
    annotated = anndata.read_h5ad(out / "annotated.h5ad")
    assert "cplmix_type" in annotated.obs and "X_cplmix_state" in annotated.obsm
    for figure in ("umap_cplmix_type.png", "history.png", "confusion.png", "traversal.png"):
        assert (out / figure).stat().st_size > 1000
    assert (out / "model" / "model.pt").exists()


def test_run_rejects_unknown_data(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="neither a built-in"):
        cli.main(["run", "--data", str(tmp_path / "missing.h5ad")])
    scvi.settings.seed = 0
