"""The code users copy first: the README's and the docs' quick starts run as written."""

import re
from pathlib import Path

import matplotlib
import pytest
import scvi

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402

import scmixvae  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.fixture
def short_training(monkeypatch, tmp_path):
    """Two epochs instead of the default length, a fixed seed and a scratch directory.

    The seed keeps the outcome independent of the random draws earlier tests made.
    """
    scvi.settings.seed = 0
    monkeypatch.setattr("scmixvae.model._training.default_max_epochs", lambda n_obs: 2)
    monkeypatch.chdir(tmp_path)
    yield
    plt.close("all")


@pytest.mark.parametrize("document", ["README.md", "docs/quickstart.md"])
def test_quick_start_code_runs(document, short_training):
    blocks = _python_blocks(ROOT / document)
    assert len(blocks) >= 2, f"{document} lost its code"
    namespace = {}
    for block in blocks:
        exec(compile(block, document, "exec"), namespace)  # noqa: S102
    adata = namespace["adata"]
    assert "cplmix_type" in adata.obs and "X_cplmix_state" in adata.obsm
    assert isinstance(namespace["model"], scmixvae.CplMixVAE)


def test_api_page_lists_every_public_name():
    api = (ROOT / "docs" / "api.md").read_text()
    assert "   CplMixVAE\n" in api
    for package in ("augment", "datasets", "module", "start", "train", "tl", "pl"):
        for name in getattr(scmixvae, package).__all__:
            assert f"   {package}.{name}\n" in api, f"{package}.{name} is not in docs/api.md"
