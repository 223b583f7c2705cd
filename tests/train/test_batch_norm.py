import copy

import numpy as np
import scvi
import torch
from conftest import QUIET

import scmixvae
from scmixvae.module import ArmBatchNorm
from scmixvae.train._batch_norm import recalibrate_batch_norm


def _counts(adata) -> torch.Tensor:
    return torch.as_tensor(adata.layers["counts"].toarray(), dtype=torch.float32)


def _encoder_norms(module) -> list[ArmBatchNorm]:
    return [layer for layer in module.encoder.modules() if isinstance(layer, ArmBatchNorm)]


def test_recalibrated_evaluation_normalises_as_a_batch_of_all_cells(trained, small_adata):
    module = trained.module
    x = _counts(small_adata).expand(2, small_adata.n_obs, -1)
    encoder_input = module.encoder_input(x, module.library_size(x))

    def gap_to_batch_statistics() -> float:
        with torch.no_grad():
            module.eval()
            evaluated = module.encoder(encoder_input)
            module.train()  # a copy of the module, so that the running averages stay as they are
            batch = copy.deepcopy(module.encoder)(encoder_input)
        return (evaluated - batch).abs().mean().item()

    for norm in _encoder_norms(module):  # statistics as stale as they come
        norm.running_mean.fill_(5.0)
        norm.running_var.fill_(0.01)
    assert gap_to_batch_statistics() > 1.0
    module.eval()
    recalibrate_batch_norm(trained, np.arange(small_adata.n_obs), batch_size=small_adata.n_obs)
    assert not module.training  # the mode it was in
    assert all(norm.momentum == 0.01 for norm in _encoder_norms(module))
    # one batch of n cells: the running variance is n / (n - 1) times the batch's
    assert gap_to_batch_statistics() < 1e-2


def test_training_ends_with_recalibrated_statistics(small_adata):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = scmixvae.CplMixVAE(small_adata, n_categories=4, n_hidden=32)
    model.train(max_epochs=2, batch_size=64, **QUIET)
    after_training = [norm.running_mean.clone() for norm in _encoder_norms(model.module)]
    # with momentum 0.01 and 8 steps the running means would still be near their start, 0
    assert max(mean.abs().max().item() for mean in after_training) > 0.1
    recalibrate_batch_norm(model, model._sampled_cells())
    for norm, mean in zip(_encoder_norms(model.module), after_training, strict=True):
        assert torch.allclose(norm.running_mean, mean, atol=1e-6)
    model.train(max_epochs=1, batch_size=64, **QUIET)  # the buffers stay trainable
