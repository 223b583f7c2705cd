"""The training plan: optimisation over time (Gumbel temperature schedule, KL warm-up, logging)."""

from __future__ import annotations

from scvi.module.base import BaseModuleClass
from scvi.train import TrainingPlan

from ..module import NonFiniteLossError

#: Adam learning rate. scvi-tools' 1e-3 (also the paper's) leaves the category head nearly
#: untrained in the ~1,200 steps of a default training (``benchmarks/ablation.md``).
DEFAULT_LR = 3e-3


class CplMixVAETrainingPlan(TrainingPlan):
    """scvi-tools' :class:`~scvi.train.TrainingPlan` plus the Gumbel-softmax temperature schedule.

    The temperature decays exponentially from ``temperature`` to ``min_temperature`` over
    ``n_epochs_temperature`` epochs, then stays there. The paper's reference code uses a
    constant ``T = 1``, which is the default. The module only ever receives the current value.

    Parameters
    ----------
    module
        A :class:`~scmixvae.module.CplMixVAEModule`.
    temperature
        Gumbel-softmax temperature at epoch 0.
    min_temperature
        Temperature reached after ``n_epochs_temperature`` epochs; ``None`` keeps it constant.
    n_epochs_temperature
        Length of the annealing.
    n_epochs_kl_warmup
        Epochs of linear KL warm-up on ``β``; ``None`` (the reference) for none.
    n_epochs_teacher
        Epochs at the start in which the module is run with ``use_teacher=True`` (the k-means
        warm start, see :class:`~scmixvae.module.ClusterTeacher`); ``0`` for none. ``None``
        (the default): as the model's start schedules it
        (:class:`~scmixvae.start.StartSchedule` sets it when the fit starts), else none.
    **kwargs
        Passed to :class:`~scvi.train.TrainingPlan` (``weight_decay``, ...); ``lr`` defaults
        to :data:`DEFAULT_LR` (3e-3) instead of scvi-tools' 1e-3.

    Examples
    --------
    >>> from scmixvae.module import CplMixVAEModule
    >>> plan = CplMixVAETrainingPlan(CplMixVAEModule(10, 3), temperature=1.0,
    ...                              min_temperature=0.5, n_epochs_temperature=10)
    >>> plan.temperature_at(5)
    0.7071067811865476

    """

    def __init__(
        self,
        module: BaseModuleClass,
        *,
        temperature: float = 1.0,
        min_temperature: float | None = None,
        n_epochs_temperature: int | None = None,
        n_epochs_kl_warmup: int | None = None,
        n_epochs_teacher: int | None = None,
        **kwargs,
    ):
        if temperature <= 0 or (min_temperature is not None and min_temperature <= 0):
            raise ValueError("Gumbel-softmax temperatures must be > 0.")
        kwargs.setdefault("kl_weight", 1.0)  # lets the parent apply its warm-up factor
        kwargs.setdefault("lr", DEFAULT_LR)
        super().__init__(module, n_epochs_kl_warmup=n_epochs_kl_warmup, **kwargs)
        self.initial_temperature = temperature
        self.min_temperature = min_temperature
        self.n_epochs_temperature = n_epochs_temperature
        if n_epochs_teacher and getattr(module, "teacher", None) is None:
            raise ValueError(
                "n_epochs_teacher > 0 needs a module with a k-means teacher "
                "(initialization='kmeans' or 'overcluster')."
            )
        self.n_epochs_teacher = n_epochs_teacher

    def temperature_at(self, epoch: int) -> float:
        """Gumbel-softmax temperature used during ``epoch``."""
        if self.min_temperature is None or not self.n_epochs_temperature:
            return self.initial_temperature
        progress = min(epoch / self.n_epochs_temperature, 1.0)
        return (
            self.initial_temperature * (self.min_temperature / self.initial_temperature) ** progress
        )

    def forward(self, *args, **kwargs):
        """Run the module, passing it the current temperature and warm-start phase."""
        epoch = self.current_epoch
        kwargs.setdefault(
            "inference_kwargs",
            {
                "temperature": self.temperature_at(epoch),
                "use_teacher": self.training and epoch < (self.n_epochs_teacher or 0),
            },
        )
        return super().forward(*args, **kwargs)

    def training_step(self, batch, batch_idx):
        """scvi-tools' step; a non-finite loss stops training with the epoch and step named."""
        try:
            return super().training_step(batch, batch_idx)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(
                f"Training stopped at epoch {self.current_epoch}, step {self.global_step}. {error}"
            ) from None

    def compute_and_log_metrics(self, loss_output, metrics, mode):
        """scvi-tools' metrics, with the extra metrics (coupling, entropy) logged by us.

        scvi-tools logs them inside ``torch.inference_mode``; under DDP Lightning then
        averages them across processes in place at the epoch's end, which inference tensors
        forbid. Logged here, outside inference mode, they sync like the training loss.
        """
        extra = loss_output.extra_metrics
        loss_output.extra_metrics = {}
        try:
            super().compute_and_log_metrics(loss_output, metrics, mode)
        finally:
            loss_output.extra_metrics = extra
        for key, value in extra.items():
            self.log(
                f"{key}_{mode}",
                value.detach(),
                on_step=self.on_step,
                on_epoch=self.on_epoch,
                batch_size=loss_output.n_obs_minibatch,
                sync_dist=self.use_sync_dist,
            )

    def on_train_epoch_start(self):
        """Log the temperature of the epoch beside the losses."""
        self.log(
            "temperature",
            self.temperature_at(self.current_epoch),
            on_step=False,
            on_epoch=True,
            sync_dist=self.use_sync_dist,
        )
