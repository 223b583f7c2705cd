"""Population statistics for batch normalisation after training ("precise BN").

During training each :class:`~scmixvae.module.ArmBatchNorm` normalises by its minibatch and
keeps an exponential running average (momentum 0.01) for evaluation. That average mixes
statistics of the last ~100 steps' weights; when the weights still move, evaluation
normalises by stale statistics. It hit the category head hardest: in a 2-arm model of a
30-type simulation with 60 categories (seed 0) one arm's head
matched the teacher's labels on 99 % of cells with minibatch statistics but on 84 % in
evaluation, and the arms' consensus was 0.67; with recomputed statistics both arms matched
on 99 % and the consensus was 0.96 (``benchmarks/decisions.md``, "Batch-norm statistics").
"""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from ..module import ArmBatchNorm

#: Cells whose statistics the validation normalises by: enough for a mean and variance per unit.
_VALIDATION_CALIBRATION_CELLS = 2048


@torch.no_grad()  # not inference_mode: the buffers are updated in place by training later
def recalibrate_batch_norm(model, indices: np.ndarray, batch_size: int = 1024) -> None:
    """Recompute every batch-norm layer's running statistics on the cells ``indices``.

    One pass in evaluation mode (no augmentation, ``c`` the argmax), except that the
    batch-norm layers normalise by their minibatch and average the statistics of all cells
    seen, weighted by minibatch size. The module's mode and the layers' momentum are
    restored.
    """
    module = model.module
    norms = [layer for layer in module.modules() if isinstance(layer, ArmBatchNorm)]
    was_training = module.training
    momenta = [norm.momentum for norm in norms]
    module.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    try:
        loader = model._make_data_loader(adata=model.adata, indices=indices, batch_size=batch_size)
        for tensors in loader:
            module(tensors)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        module.train(was_training)


class BatchNormCalibration(Callback):
    """Recompute the batch-norm statistics before each validation and when training ends.

    Before a validation, on up to 2,048 of the sampled cells: early in training the running
    average still holds mostly its initial values (momentum 0.01 over a few dozen steps), so
    a validation would normalise by statistics that no weights ever produced; the
    validation loss would then measure the stale average, not the model, and can overflow
    (a variance ``exp(log_var)`` of a state far off its scale). When training ends, or is
    stopped by Ctrl+C, on all the sampled cells with the final weights, so that evaluation
    normalises as training did.

    Parameters
    ----------
    model
        The :class:`~scmixvae.CplMixVAE` being trained.
    indices
        The sampled cells (:func:`~scmixvae.start.sample_cells`).

    """

    def __init__(self, model, indices: np.ndarray):
        step = -(-len(indices) // _VALIDATION_CALIBRATION_CELLS)  # ceiling division
        self.model, self.indices, self.validation_indices = model, indices, indices[::step]

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        """Recompute the statistics with the current weights, leaving the random stream as it was.

        The pass draws states; forked, it leaves training's random draws, and so the trained
        model, as they would be without it.
        """
        device = self.model.module.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            recalibrate_batch_norm(self.model, self.validation_indices)

    def on_train_end(self, trainer, pl_module) -> None:
        """Recompute the statistics on the sampled cells with the trained weights."""
        recalibrate_batch_norm(self.model, self.indices)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """After Ctrl+C, as at the end: the weights of the last step are kept for use."""
        if isinstance(exception, KeyboardInterrupt):
            recalibrate_batch_norm(self.model, self.indices)
