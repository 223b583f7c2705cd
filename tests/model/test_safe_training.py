import signal

import numpy as np
import pytest
import scvi
import torch
from conftest import QUIET
from lightning.pytorch.callbacks import Callback

import scmixvae
from scmixvae.module import ArmBatchNorm, NonFiniteLossError
from scmixvae.train._batch_norm import recalibrate_batch_norm


class RaiseAt(Callback):
    """Raise ``error`` after batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch, error):
        self.epoch, self.batch, self.error = epoch, batch, error

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise self.error


class CountEpochs(Callback):
    def __init__(self):
        self.started = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.started.append(trainer.current_epoch)


@pytest.fixture
def model(small_adata):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    return scmixvae.CplMixVAE(small_adata, n_categories=3, n_hidden=16)


def test_non_finite_loss_names_the_term_and_keeps_finite_weights(model, monkeypatch):
    import scmixvae.module._cplmixvae_module as module_file

    calls = {"n": 0}
    real = module_file.perturbed_aitchison_distance

    def breaks_on_third_step(*args, **kwargs):
        calls["n"] += 1
        distance = real(*args, **kwargs)
        return distance * float("nan") if calls["n"] >= 3 else distance

    monkeypatch.setattr(module_file, "perturbed_aitchison_distance", breaks_on_third_step)
    with pytest.raises(NonFiniteLossError, match=r"epoch 0, step 2\. .*term 'coupling'"):
        model.train(max_epochs=2, batch_size=64, **QUIET)
    for name, parameter in model.module.named_parameters():
        assert torch.isfinite(parameter).all(), name


def test_keyboard_interrupt_leaves_a_usable_model(model, small_adata):
    interrupt = RaiseAt(epoch=1, batch=1, error=KeyboardInterrupt())
    with pytest.warns(UserWarning, match="interrupted in epoch 2 of 5") as warned:
        with pytest.raises(KeyboardInterrupt):
            model.train(max_epochs=5, batch_size=64, callbacks=[interrupt], **QUIET)
    assert warned[0].filename == __file__  # the warning points at the user's call
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert model.is_trained_
    assert len(model.history["train_loss"]) == 1  # the one finished epoch
    # the batch-norm statistics were recomputed with the weights of the last step (the
    # encoder's: those after the sampled state differ between passes)
    norms = [layer for layer in model.module.encoder.modules() if isinstance(layer, ArmBatchNorm)]
    kept = [norm.running_mean.clone() for norm in norms]
    recalibrate_batch_norm(model, model._sampled_cells())
    for norm, mean in zip(norms, kept, strict=True):
        assert torch.allclose(norm.running_mean, mean, atol=1e-6)
    model.annotate()
    assert small_adata.obs["cplmix_type"].notna().all()
    assert np.isfinite(small_adata.obsm["X_cplmix_state"]).all()
    # Training again continues from these weights and extends the history.
    model.train(max_epochs=2, batch_size=64, **QUIET)
    assert len(model.history["train_loss"]) == 3


def test_resume_continues_from_the_last_checkpoint(model, tmp_path):
    interrupt = RaiseAt(epoch=2, batch=0, error=KeyboardInterrupt())
    with pytest.warns(UserWarning, match="resume=True"), pytest.raises(KeyboardInterrupt):
        model.train(
            max_epochs=5, batch_size=64, checkpoint_dir=tmp_path, callbacks=[interrupt], **QUIET
        )
    assert (tmp_path / "last.ckpt").exists()
    counter = CountEpochs()
    model.train(
        max_epochs=5, batch_size=64, checkpoint_dir=tmp_path, resume=True, callbacks=[counter],
        **QUIET,
    )  # fmt: skip
    assert counter.started == [2, 3, 4]


def test_resume_errors(model, tmp_path):
    with pytest.raises(ValueError, match="needs the checkpoint_dir"):
        model.train(max_epochs=1, resume=True)
    with pytest.raises(ValueError, match="No checkpoint to resume from"):
        model.train(max_epochs=1, checkpoint_dir=tmp_path, resume=True)


def test_other_exits_are_not_swallowed(model):
    with pytest.raises(SystemExit):
        model.train(max_epochs=2, batch_size=64, callbacks=[RaiseAt(0, 0, SystemExit(3))], **QUIET)
    assert not model.is_trained_
