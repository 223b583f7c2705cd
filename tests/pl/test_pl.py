import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from conftest import QUIET  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import scmixvae  # noqa: E402
from scmixvae import pl  # noqa: E402


def test_history_plot(small_adata):
    # Validation is on by default from 100 held-out cells; ask for it on these 240 cells.
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    trained = scmixvae.CplMixVAE(small_adata, n_categories=4, n_hidden=16)
    trained.train(max_epochs=3, batch_size=64, check_val_every_n_epoch=1, **QUIET)
    axes = pl.history(trained, show=False)
    titles = [ax.get_title() for ax in axes]
    assert titles[:2] == ["loss", "reconstruction loss"]
    # each term has its own panel and scale; validation is drawn beside training
    loss = axes[0]
    assert [line.get_label() for line in loss.get_lines()] == ["train", "validation"]
    train_epochs = loss.get_lines()[0].get_xdata()
    assert train_epochs[0] == 1 and len(train_epochs) == len(trained.history["train_loss"])
    assert loss.get_ylim() != axes[1].get_ylim() or len(axes) == 1
    # a term that stayed 0 is left out and named
    flat = [t for t in ("kl_global",) if (trained.history[f"{t}_train"] == 0).all().all()]
    assert all(t.replace("_", " ") not in titles for t in flat)
    _, ax = plt.subplots()
    assert pl.history(trained, terms=["coupling"], ax=ax, show=False) is ax
    assert isinstance(pl.history(trained, return_fig=True), Figure)
    with pytest.raises(ValueError, match="Unknown terms"):
        pl.history(trained, terms=["nope"], show=False)
    with pytest.raises(ValueError, match="draws a single term"):
        pl.history(trained, ax=ax, show=False)
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


def test_calibration_plot(trained, small_adata):
    trained.annotate()
    _, ax = plt.subplots()
    out = pl.calibration(small_adata, "type", ax=ax, show=False)
    assert out is ax
    bins = scmixvae.tl.calibration(small_adata, "type")
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == pytest.approx(bins["accuracy"].tolist())
    assert ax.get_title().startswith("ECE ")
    assert isinstance(pl.calibration(small_adata, "type", return_fig=True), Figure)
    with pytest.raises(ValueError, match="not a column"):
        pl.calibration(small_adata, "missing", show=False)
    plt.close("all")


def test_traversal_plot_panels_groups_and_palette(trained, small_adata):
    trained.annotate()
    # Colour the two types as scanpy would, in the order of the column's categories.
    types = ["0", "2"]
    palette = ["#ff0000", "#0000ff"]
    small_adata.obs["cplmix_type"] = small_adata.obs["cplmix_type"].cat.set_categories(types)
    small_adata.uns["cplmix_type_colors"] = palette
    genes = {"MG": ["gene_0001", "GENE_0002"], "IEG": ["IEG_00", "IEG_01", "IEG_02"]}
    fig = pl.traversal(
        trained, types=types, genes=genes, n_steps=6, state_range="prior", return_fig=True
    )
    panels = [ax for ax in fig.axes if ax.get_images() and ax.get_visible()]
    assert len(panels) == 2
    for panel, name, colour in zip(panels, types, palette, strict=False):
        image = panel.get_images()[0].get_array()
        assert image.shape == (6, 5)  # steps x genes
        assert 0.0 <= image.min() and image.max() <= 1.0
        labels = [t.get_text() for t in panel.get_xticklabels()]
        assert labels == ["gene_0001", "gene_0002", "IEG_00", "IEG_01", "IEG_02"]
        assert panel.get_title() == f"type {name}"
        assert matplotlib.colors.to_hex(panel.title.get_color()) == colour
    plt.close("all")


def test_traversal_plot_single_panel_and_defaults(trained):
    name = trained.get_cell_types().value_counts().index[0]
    _, ax = plt.subplots()
    out = pl.traversal(
        trained, types=name, genes=["IEG_00"], values="expression", ax=ax, show=False
    )
    assert out is ax and ax.get_images()[0].get_array().shape == (11, 1)
    # Default genes: the top state genes of each type; several panels give a list of Axes.
    axes = pl.traversal(trained, types=["0", "1", "2"], state_range="prior", show=False, ncols=2)
    assert isinstance(axes, list) and len(axes) == 3
    assert axes[0].get_images()[0].get_array().shape[1] >= 5
    plt.close("all")


def test_traversal_plot_errors(trained):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax holds one panel"):
        pl.traversal(trained, types=["0", "1"], genes=["IEG_00"], state_range="prior", ax=ax)
    with pytest.raises(ValueError, match="values must be"):
        pl.traversal(trained, genes=["IEG_00"], values="z")
    with pytest.raises(ValueError, match="ncols"):
        pl.traversal(trained, genes=["IEG_00"], ncols=0)
    with pytest.raises(ValueError, match="Gene group 'MG'"):
        pl.traversal(trained, genes={"MG": ["Sst"]})
    plt.close("all")
