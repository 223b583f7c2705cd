"""Settings of saved models that name variants no longer in the package, or lack new ones.

Variants that were measured and lost left the module with the release after 0.1.0; their
results are in ``benchmarks/tried.md``. A model saved before then records each of their
settings. Where it holds the behaviour that was kept, the setting is dropped and the model
loads as it was trained; where it holds a removed variant, loading is refused with what to
do, since the weights were trained for something this version cannot run. A setting added
later is missing from older models; they load with the value that builds them as trained.
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__

#: Each removed setting, with the values whose behaviour the package kept.
REMOVED_SETTINGS = {
    "coupling_input": ("samples",),
    "coupling_var_floor": (1e-4,),
    "coupling_prob_offset": (1e-3,),
    "usage_weight": (0.0,),
    "clustering_input": ("pearson_residuals", "as_is"),  # the kept rule, by likelihood
    "hard_samples": (False,),
    "n_enumerated": (0,),
    "self_labelling": (False,),
    "category_input": ("hidden",),
    "merge_method": ("geodesic",),
    "merge_connectivity": (True,),
    "merge_depth_normalised": (False,),
}


#: Each setting added since models were first saved, with the value an older model had.
ADDED_SETTINGS = {"depth_in_decoder": False}


def saved_settings(settings: dict, folder: Path, saved_by: str) -> dict:
    """Return the settings that rebuild a saved model: removed ones dropped, added ones filled.

    Examples
    --------
    >>> saved_settings({"n_arms": 2, "n_enumerated": 0}, Path("m"), "0.1.0")
    {'depth_in_decoder': False, 'n_arms': 2}

    """
    return ADDED_SETTINGS | drop_removed_settings(settings, folder, saved_by)


def drop_removed_settings(settings: dict, folder: Path, saved_by: str) -> dict:
    """Return ``settings`` without the removed ones; refuse a model trained with a variant.

    Examples
    --------
    >>> drop_removed_settings({"n_arms": 2, "n_enumerated": 0}, Path("m"), "0.1.0")
    {'n_arms': 2}
    >>> drop_removed_settings({"n_enumerated": 3}, Path("m"), "0.1.0")
    Traceback (most recent call last):
    ...
    ValueError: The model in 'm' was trained with n_enumerated=3, a variant that ...

    """
    for name, kept in REMOVED_SETTINGS.items():
        if name in settings and settings[name] not in kept:
            raise ValueError(
                f"The model in {str(folder)!r} was trained with {name}={settings[name]!r}, a "
                f"variant that scmixvae {__version__} no longer has (it keeps "
                f"{' or '.join(map(repr, kept))}; the variants measured are listed in the "
                f"project's benchmarks/tried.md). Load it with scmixvae {saved_by}, which "
                "saved it, or train the model again."
            )
    return {name: value for name, value in settings.items() if name not in REMOVED_SETTINGS}
