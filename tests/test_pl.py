import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from scmixvae import pl  # noqa: E402


def test_history_plot(trained):
    ax = pl.history(trained, keys=["train_loss", "coupling_train"], show=False)
    assert isinstance(ax, Axes) and len(ax.get_lines()) == 2
    fig = pl.history(trained, return_fig=True)
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="not in model.history"):
        pl.history(trained, keys=["nope"], show=False)
    plt.close("all")


def test_confusion_plot(trained, small_adata):
    trained.annotate()
    _, ax = plt.subplots()
    out = pl.confusion(small_adata, "cplmix_type", "type", ax=ax, show=False)
    assert out is ax
    image = ax.get_images()[0].get_array()
    assert image.shape[0] == 4 and ((image.sum(axis=1) - 1.0) ** 2 < 1e-9).all()
    with pytest.raises(ValueError, match="not a column"):
        pl.confusion(small_adata, "cplmix_type", "missing", show=False)
    plt.close("all")
