import hashlib
import json

import anndata
import pytest

from scmixvae import cli
from scmixvae.module import NonFiniteLossError

FAST = ["--max-epochs", "2", "--accelerator", "cpu", "--quiet"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fit_writes_the_annotated_file_figures_and_model(h5ad, tmp_path, capsys):
    before = _digest(h5ad)
    out = tmp_path / "results" / "annotated.h5ad"
    code = cli.main(
        ["fit", str(h5ad), "-o", str(out), "--n-types", "4", "--layer", "counts"]
        + ["--model-dir", str(tmp_path / "model"), *FAST]
    )
    assert code == 0
    assert _digest(h5ad) == before  # the input file is never written
    annotated = anndata.read_h5ad(out)
    assert {"cplmix_type", "cplmix_confidence", "cplmix_agreement"} <= set(annotated.obs)
    assert annotated.obsm["X_cplmix_state"].shape == (200, 2)
    figures = tmp_path / "results" / "annotated_figures"
    for figure in ("umap_cplmix_type.png", "history.png", "traversal.png"):
        assert (figures / figure).stat().st_size > 1000
    assert not (figures / "confusion.png").exists()  # no reference labels given
    assert (tmp_path / "model" / "model.json").exists()
    assert "types_used" in capsys.readouterr().out


def test_evaluate_scores_and_draws_the_confusion(h5ad, tmp_path, capsys):
    out = tmp_path / "annotated.h5ad"
    fit = ["fit", str(h5ad), "-o", str(out), "--n-types", "4", "--layer", "counts", *FAST]
    assert cli.main(fit) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--reference", "type", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"acc", "ari", "nmi"} <= set(scores) and 0 <= scores["acc"] <= 1
    assert (tmp_path / "annotated_figures" / "confusion.png").stat().st_size > 1000
    assert cli.main(["evaluate", str(out), "--reference", "nope"]) == cli.EXIT_BAD_INPUT
    assert "'nope' is not a column" in capsys.readouterr().err


def test_run_on_a_file_writes_everything(h5ad, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        ["run", "--data", str(h5ad), "--layer", "counts", "--label-key", "type"]
        + ["--augmentation", "thinning", "--out", str(out), *FAST]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "types_used" in printed and "acc" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_types"] == 4 and 0 <= summary["acc"] <= 1
    assert summary["augmentation"] == "thinning"
    annotated = anndata.read_h5ad(out / "annotated.h5ad")
    assert "cplmix_type" in annotated.obs and "X_cplmix_state" in annotated.obsm
    for figure in ("umap_cplmix_type.png", "history.png", "confusion.png", "traversal.png"):
        assert (out / figure).stat().st_size > 1000
    assert (out / "model" / "model.json").exists()


def test_demo_runs_the_pbmc_job(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--max-epochs", "1", "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["data"] == "pbmc68k" and summary["n_types"] == 10 and "acc" in summary


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--data", "missing.h5ad"], "neither a built-in"),
        (["fit", "missing.h5ad", "-o", "x.h5ad", "--n-types", "3"], "is not a file"),
        (["evaluate", "missing.h5ad", "--reference", "type"], "is not a file"),
    ],
)
def test_bad_input_exits_1_with_a_message(argv, message, capsys):
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_fit_input_errors(h5ad, tmp_path, capsys):
    base = ["fit", str(h5ad), "--n-types", "4", *FAST]
    assert cli.main([*base, "-o", str(tmp_path / "out.csv")]) == cli.EXIT_BAD_INPUT
    assert "must end in .h5ad" in capsys.readouterr().err
    code = cli.main([*base, "-o", str(tmp_path / "o.h5ad"), "--layer", "raw"])
    assert code == cli.EXIT_BAD_INPUT
    assert "Layer 'raw' not found" in capsys.readouterr().err
    not_h5ad = tmp_path / "bad.h5ad"
    not_h5ad.write_text("not hdf5")
    assert cli.main(["fit", str(not_h5ad), "-o", "o.h5ad", "--n-types", "2"]) == 1
    assert "could not read" in capsys.readouterr().err


def test_usage_errors_exit_2_and_help_exits_0(capsys):
    with pytest.raises(SystemExit) as usage:
        cli.main(["fit", "in.h5ad"])  # no -o, no --n-types
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as usage:  # affine needs an image shape: not offered
        cli.main(["fit", "in.h5ad", "-o", "out.h5ad", "--augmentation", "affine"])
    assert usage.value.code == 2
    for command in ("fit", "demo", "run", "evaluate"):
        with pytest.raises(SystemExit) as shown:
            cli.main([command, "--help"])
        assert shown.value.code == 0
    assert "--n-types" in capsys.readouterr().out
    with pytest.raises(SystemExit) as shown:
        cli.main(["--help"])
    assert "Exit codes" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("error", "code"),
    [(NonFiniteLossError("loss is nan"), 3), (KeyboardInterrupt(), 130)],
)
def test_training_failures_have_their_exit_codes(h5ad, tmp_path, monkeypatch, error, code):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli.CplMixVAE, "train", fail)
    argv = ["fit", str(h5ad), "-o", str(tmp_path / "o.h5ad"), "--n-types", "3", *FAST]
    assert cli.main(argv) == code
    assert not (tmp_path / "o.h5ad").exists()
