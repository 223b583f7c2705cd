"""The command line checks outputs before training and never leaves one half-written."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import anndata
import numpy as np
import pytest
import torch
from conftest import save_as_pickle

from scmixvae import _cli_signals as cli_signals
from scmixvae import cli, datasets
from scmixvae._atomic import atomic_directory, atomic_file

FAST = ["--max-epochs", "1", "--accelerator", "cpu", "--quiet"]


@pytest.fixture
def large_h5ad(tmp_path):
    """Enough cells that writing the result takes a while; a UMAP is given, so none is fitted."""
    adata = datasets.simulate(n_cells=4000, n_types=4, n_genes=300, seed=1)
    adata.obsm["X_umap"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    path = tmp_path / "large.h5ad"
    adata.write_h5ad(path)
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_training(monkeypatch):
    """Make any training fail loudly: the checks under test must come before it."""

    def train(*args, **kwargs):
        raise AssertionError("trained before the outputs were checked")

    monkeypatch.setattr(cli.CplMixVAE, "train", train)


def test_output_equal_to_input_needs_overwrite(h5ad, monkeypatch, capsys):
    before = _digest(h5ad)
    base = ["fit", str(h5ad), "-o", str(h5ad), "--n-types", "4", "--layer", "counts", *FAST]
    with monkeypatch.context() as patch:
        _no_training(patch)
        assert cli.main(base) == cli.EXIT_BAD_INPUT
    assert "is the input" in capsys.readouterr().err and _digest(h5ad) == before
    assert cli.main([*base, "--overwrite"]) == 0
    assert "cplmix_type" in anndata.read_h5ad(h5ad).obs
    assert sorted(p.name for p in h5ad.parent.iterdir() if p.suffix == ".h5ad") == [h5ad.name]


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        (lambda t: (t / "o.h5ad").mkdir(), [], "is a folder"),
        (lambda t: (t / "f").write_text("x"), ["--figures", "{t}/f"], "is a file"),
        (lambda t: (t / "sub").write_text("x"), ["-o", "{t}/sub/o.h5ad"], "is a file"),
        (lambda t: (t / "m").mkdir() or (t / "m" / "x").write_text("x"), ["--model-dir", "{t}/m"],
         "exists and is not empty"),
        (lambda t: None, ["--max-epochs", "0"], "--max-epochs must be an integer >= 1"),
        (lambda t: None, ["--max-epochs", "-1"], "--max-epochs must be an integer >= 1"),
        (lambda t: None, ["--max-epochs", "2.5"], "--max-epochs must be an integer >= 1"),
        (lambda t: None, ["--n-types", "0"], "--n-types must be an integer >= 2"),
    ],
)  # fmt: skip
def test_bad_outputs_and_values_are_refused_before_training(
    h5ad, tmp_path, monkeypatch, capsys, setup, extra, message
):
    setup(tmp_path)
    argv = ["fit", str(h5ad), "-o", str(tmp_path / "o.h5ad"), "--n-types", "4"]
    argv += ["--layer", "counts", "--accelerator", "cpu", "--quiet"]
    _no_training(monkeypatch)
    assert cli.main(argv + [a.format(t=tmp_path) for a in extra]) == cli.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_missing_accelerator_is_refused_before_training(h5ad, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU machine
    _no_training(monkeypatch)
    argv = ["fit", str(h5ad), "-o", str(tmp_path / "o.h5ad"), "--n-types", "4"]
    assert cli.main([*argv, "--accelerator", "gpu"]) == cli.EXIT_BAD_INPUT
    assert "no such device" in capsys.readouterr().err


def test_duplicated_genes_are_named_before_training(tmp_path, monkeypatch, capsys):
    adata = datasets.simulate(n_cells=100, n_types=2, n_genes=60, n_programme_genes=10)
    adata.var_names = ["g0", "g0", *adata.var_names[2:]]
    adata.write_h5ad(tmp_path / "dup.h5ad")
    _no_training(monkeypatch)
    argv = ["fit", str(tmp_path / "dup.h5ad"), "-o", str(tmp_path / "o.h5ad"), "--n-types", "2"]
    assert cli.main([*argv, "--layer", "counts"]) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "['g0']" in error and "var_names_make_unique" in error


def test_a_failed_figure_keeps_the_data_and_model(h5ad, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("no font")

    monkeypatch.setattr(cli.pl, "history", broken)
    out = tmp_path / "o.h5ad"
    argv = ["fit", str(h5ad), "-o", str(out), "--n-types", "4", "--layer", "counts"]
    assert cli.main([*argv, "--model-dir", str(tmp_path / "m"), *FAST]) == cli.EXIT_UNEXPECTED
    error = capsys.readouterr().err
    assert "were written, but a figure failed: no font" in error and "Traceback" not in error
    assert "cplmix_type" in anndata.read_h5ad(out).obs
    assert (tmp_path / "m" / "model.json").exists()


def test_unexpected_errors_print_one_line_unless_debug(h5ad, tmp_path, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_fit", boom)
    argv = ["fit", str(h5ad), "-o", str(tmp_path / "o.h5ad"), "--n-types", "4"]
    assert cli.main(argv) == cli.EXIT_UNEXPECTED
    assert capsys.readouterr().err.startswith("error: boom")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", *argv])


def test_convert_command_writes_the_safe_format(h5ad, tmp_path, capsys):

    import scmixvae

    adata = anndata.read_h5ad(h5ad)
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(
        adata, n_categories=3, n_hidden=16, initialization="random", depth_in_decoder=False
    )
    model.train(max_epochs=1, enable_progress_bar=False)
    save_as_pickle(model, tmp_path / "old")
    new = tmp_path / "new"
    assert cli.main(["convert", str(tmp_path / "old"), str(new)]) == cli.EXIT_BAD_INPUT
    assert "saved without its data" in capsys.readouterr().err and not new.exists()
    assert cli.main(["convert", str(tmp_path / "old"), str(new), "--data", str(h5ad)]) == 0
    loaded = scmixvae.CplMixVAE.load(new, adata=anndata.read_h5ad(h5ad))
    assert loaded.get_cell_types().shape == (200,)


# ---- a real ``scmixvae fit`` process, stopped at the worst moments ---------------------------
def _start_fit(source, output, *extra):
    argv = [sys.executable, "-m", "scmixvae.cli", "fit", str(source), "-o", str(output)]
    argv += ["--n-types", "4", "--layer", "counts", *FAST, *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process, timeout=240.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the job ended first: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out")
        time.sleep(0.002)  # leave the cores to the job; a write lasts far longer
    return True


def _partial_files(folder, name):
    return [p for p in os.listdir(folder) if p.startswith(f".{name}.partial-")]


@pytest.mark.parametrize("previous", [False, True])
def test_kill_9_during_the_write_leaves_a_readable_file_or_none(large_h5ad, tmp_path, previous):
    folder = tmp_path / "results"
    folder.mkdir()
    output = folder / "o.h5ad"
    if previous:
        output.write_bytes(large_h5ad.read_bytes())
    before = _digest(output) if previous else None
    process = _start_fit(large_h5ad, output)
    _wait_for(lambda: _partial_files(folder, "o.h5ad"), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if output.exists():  # the previous file, or the new one if the rename came first
        written = anndata.read_h5ad(output)
        assert _digest(output) == before or "cplmix_type" in written.obs
    else:
        assert not previous


def test_sigint_during_the_write_exits_130_without_a_partial_file(large_h5ad, tmp_path):
    output = tmp_path / "o.h5ad"
    process = _start_fit(large_h5ad, output)
    _wait_for(lambda: _partial_files(tmp_path, "o.h5ad"), process)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=120)
    if process.returncode == 0:  # the write finished before the signal landed
        assert "cplmix_type" in anndata.read_h5ad(output).obs
    else:
        assert process.returncode == cli.EXIT_INTERRUPTED, error
        assert "interrupted" in error and not output.exists()
    assert not _partial_files(tmp_path, "o.h5ad")


def test_sigterm_exits_143_with_a_message(large_h5ad, tmp_path):
    output = tmp_path / "later" / "o.h5ad"
    process = _start_fit(large_h5ad, output)
    _wait_for(lambda: output.parent.exists(), process)  # the checks ran: the handler is set
    process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=120)
    assert process.returncode == cli.EXIT_TERMINATED, error
    assert "terminated (SIGTERM)" in error and "Traceback" not in error
    assert not output.exists()


def test_an_empty_model_folder_is_used(h5ad, tmp_path):
    (tmp_path / "m").mkdir()  # e.g. made by a job script beforehand
    argv = ["fit", str(h5ad), "-o", str(tmp_path / "o.h5ad"), "--n-types", "4"]
    assert cli.main([*argv, "--layer", "counts", "--model-dir", str(tmp_path / "m"), *FAST]) == 0
    assert (tmp_path / "m" / "model.json").exists()


def test_a_sigterm_whose_exception_was_swallowed_still_stops_before_writing(
    h5ad, tmp_path, monkeypatch, capsys
):
    # Python ignores an exception raised inside a weakref callback or __del__, and reports it
    # through sys.unraisablehook; the flag the handler set remains.
    def swallowed_sigterm(adata):
        cli_signals.TERMINATED.set()
        report = SimpleNamespace(
            exc_value=cli_signals.Terminated(), exc_type=cli_signals.Terminated
        )
        sys.unraisablehook(report)

    monkeypatch.setattr(cli, "_embedding", swallowed_sigterm)
    output = tmp_path / "o.h5ad"
    argv = ["fit", str(h5ad), "-o", str(output), "--n-types", "4", "--layer", "counts", *FAST]
    assert cli.main(argv) == cli.EXIT_TERMINATED
    assert not output.exists()
    assert "Traceback" not in capsys.readouterr().err


def test_training_stops_at_the_next_minibatch_after_sigterm():
    cli_signals.TERMINATED.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            cli_signals.StopWhenTerminated().on_train_batch_end()
    finally:
        cli_signals.TERMINATED.clear()


@pytest.fixture
def python_sigint_handler():
    """Python's own Ctrl+C handler during the test, even where the tests were started with
    SIGINT ignored (a background job of a shell without job control: `nohup pytest &`)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("write", ["file", "folder"])
def test_ctrl_c_inside_a_write_arrives_after_it_and_leaves_nothing(
    tmp_path, write, python_sigint_handler
):
    target = tmp_path / "out"
    finished = []
    with pytest.raises(KeyboardInterrupt):
        opened = atomic_file(target) if write == "file" else atomic_directory(target)
        with opened as temporary:
            signal.raise_signal(signal.SIGINT)  # as if inside h5py's C code
            finished.append(temporary.exists() or write == "file")
    assert finished == [True]  # the write ran to its end before the interrupt
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
