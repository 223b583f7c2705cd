"""What the command line writes: checked before training, written whole or not at all.

Every check that can fail on an output is made before the (long) training, and every output
is written under a temporary name in its own folder and renamed into place
(:mod:`scmixvae._atomic`), so that a job killed at any moment leaves the previous file or
the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anndata
import matplotlib.pyplot as plt
import torch

from ._atomic import atomic_file
from ._cli_inputs import InputError


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written there."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{str(folder)!r} is a file, not a folder; choose another path.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"cannot write in {str(folder)!r} ({error.strerror}).") from None


def check_output_file(output: Path, inputs: list[Path], overwrite: bool, suffix: str) -> None:
    """Refuse a folder, another suffix, or an input without ``overwrite``; check the folder.

    ``output`` must end in ``suffix``, must not be a folder, and may be one of ``inputs``
    only with ``overwrite``; its folder is created if needed and must be writable.
    """
    if output.suffix != suffix:
        raise InputError(f"the output {str(output)!r} must end in {suffix}.")
    if output.is_dir():
        raise InputError(f"the output {str(output)!r} is a folder; give a file name.")
    for path in inputs:
        if output.exists() and path.exists() and os.path.samefile(output, path):
            if not overwrite:
                raise InputError(
                    f"the output {str(output)!r} is the input; choose another output, or pass "
                    "--overwrite to replace the input (it is replaced whole, once written)."
                )
    check_writable_folder(output.parent)


def check_model_folder(folder: Path, overwrite: bool) -> None:
    """Refuse a model folder that exists and is not empty, unless ``overwrite``."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"the model folder {str(folder)!r} is a file; choose another path.")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise InputError(
            f"the model folder {str(folder)!r} exists and is not empty; choose another, or pass "
            "--overwrite to replace it."
        )
    check_writable_folder(folder.parent)


def check_accelerator(accelerator: str) -> None:
    """Refuse an accelerator this machine does not have."""
    missing = {
        "gpu": not torch.cuda.is_available(),
        "cuda": not torch.cuda.is_available(),
        "mps": not torch.backends.mps.is_available(),
    }
    if missing.get(accelerator, False):
        raise InputError(
            f"--accelerator {accelerator} was asked for, but PyTorch finds no such device "
            "here; use --accelerator cpu (or auto)."
        )


def write_h5ad(adata: anndata.AnnData, path: Path) -> None:
    """Write ``adata`` to ``path`` whole, or leave ``path`` as it was."""
    with atomic_file(path) as temporary:
        adata.write_h5ad(temporary)


def save_figure(path: Path) -> None:
    """Save and close the current figure as a PNG at ``path``, whole or not at all."""
    try:
        with atomic_file(path) as temporary:
            plt.savefig(temporary, dpi=120, bbox_inches="tight", format="png")
    finally:
        plt.close("all")
