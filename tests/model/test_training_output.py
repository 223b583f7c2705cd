"""Training is quiet by default, and a log file gets readable progress lines."""

import io
import logging
import os
import subprocess
import sys
import warnings

import scmixvae
from scmixvae._threads import default_threads
from scmixvae.model._training_output import ProgressLines, quiet_third_party


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_quiet_hides_lightning_information_and_noise_warnings():
    logger = logging.getLogger("lightning.pytorch")
    records = _Records()
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with quiet_third_party():
                logger.info("GPU available: False")
                warnings.warn("log_every_n_steps=10 is larger than ...", UserWarning, stacklevel=1)
                warnings.warn("a real problem", UserWarning, stacklevel=1)
        assert [str(w.message) for w in caught] == ["a real problem"]
        assert records.messages == [] and logger.level == logging.INFO
        with quiet_third_party(quiet=False):
            logger.info("GPU available: False")
        assert records.messages == ["GPU available: False"]
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)


def test_progress_lines_every_tenth_of_the_run():
    progress = ProgressLines(max_epochs=5, stream=io.StringIO())
    assert [e for e in range(5) if progress.reports(e)] == [0, 1, 2, 3, 4]
    assert [e for e in range(35) if ProgressLines(35).reports(e)] == [*range(2, 35, 3), 34]


def test_a_training_in_a_log_file_prints_progress_lines_and_nothing_else(tmp_path):
    script = (
        "import scmixvae\n"
        "a = scmixvae.datasets.simulate(n_cells=120, n_types=2, n_genes=40, "
        "n_programme_genes=10)\n"
        "scmixvae.CplMixVAE.setup_anndata(a, layer='counts')\n"
        "m = scmixvae.CplMixVAE(a, n_categories=2, n_hidden=8, initialization='random')\n"
        "m.train(max_epochs=4)\n"
    )
    log = tmp_path / "train.log"
    with open(log, "w") as handle:  # standard error is a file, not a terminal
        subprocess.run([sys.executable, "-c", script], stderr=handle, stdout=handle, check=True)
    lines = log.read_text().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"epoch {e}/4" for e in (1, 2, 3, 4)]
    assert all("train_loss=" in line for line in lines)


def test_default_threads_honours_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= default_threads() <= len(os.sched_getaffinity(0))
    monkeypatch.setattr("scmixvae._threads._other_running_processes", lambda: 99)
    assert default_threads() == 1  # every core busy: one thread, not an oversubscription
    assert scmixvae.default_threads is default_threads
