import json
import pickle

import numpy as np
import pytest
import torch
from conftest import save_as_pickle

import scmixvae
from scmixvae.model._saved_model import (
    SAVE_FORMAT,
    SETTINGS_FILE,
    WEIGHTS_FILE,
    sha256_of,
)
from scmixvae.module import CplMixVAEModule


class Payload:
    """Creates ``marker`` when unpickled: what an attacker would hide in a model file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _edit_settings(folder, edit):
    document = json.loads((folder / SETTINGS_FILE).read_text())
    edit(document)
    (folder / SETTINGS_FILE).write_text(json.dumps(document))


def test_saved_model_is_plain_data(trained, tmp_path):
    trained.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [SETTINGS_FILE, WEIGHTS_FILE]
    document = json.loads((tmp_path / "m" / SETTINGS_FILE).read_text())
    assert document["format"] == SAVE_FORMAT and document["model"] == "CplMixVAE"
    assert document["scmixvae_version"] == scmixvae.__version__
    assert document["attributes"]["training_genes_"] == trained.adata.var_names.tolist()
    assert document["settings"]["n_categories"] == 4
    assert document["weights_sha256"] == sha256_of(tmp_path / "m" / WEIGHTS_FILE)


def test_save_refuses_an_existing_folder_unless_overwrite(trained, tmp_path):
    trained.save(tmp_path / "m")
    with pytest.raises(ValueError, match="already exists"):
        trained.save(tmp_path / "m")
    trained.save(tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left


@pytest.mark.parametrize(
    ("saved_format", "message"),
    [(SAVE_FORMAT + 1, "newer than this scmixvae reads"), (4, "other than this scmixvae")],
)
def test_incompatible_format_is_refused(trained, small_adata, tmp_path, saved_format, message):
    trained.save(tmp_path / "m")
    _edit_settings(
        tmp_path / "m", lambda d: d.update(format=saved_format, scmixvae_version="9.9.9")
    )
    with pytest.raises(ValueError, match=message) as error:
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert "train the model again" in str(error.value) and "scmixvae 9.9.9" in str(error.value)


def test_load_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="No saved model"):
        scmixvae.CplMixVAE.load(tmp_path / "nothing")


def test_reordered_genes_are_refused_and_data_untouched(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    reordered = small_adata[:, small_adata.var_names[::-1]].copy()
    obs_before, uns_before = list(reordered.obs.columns), set(reordered.uns)
    with pytest.raises(ValueError, match="in another order"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=reordered)
    with pytest.raises(ValueError, match="in another order"):
        trained.get_cell_types(adata=reordered)
    assert list(reordered.obs.columns) == obs_before and set(reordered.uns) == uns_before
    # The fix the message gives works.
    fixed = reordered[:, trained.training_genes_].copy()
    assert trained.get_cell_types(adata=fixed).index.equals(fixed.obs_names)


def test_other_genes_are_refused(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    renamed = small_adata.copy()
    renamed.var_names = [f"other_{i}" for i in range(renamed.n_vars)]
    with pytest.raises(ValueError, match=r"60 missing .* 60 not in the model"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=renamed)
    fewer = small_adata[:, 5:].copy()
    with pytest.raises(ValueError, match="5 missing"):
        trained.annotate(adata=fewer)
    assert "cplmix_type" not in fewer.obs


def test_round_trip_keeps_settings_history_and_types(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert loaded.training_genes_ == trained.training_genes_
    assert loaded.settings() == trained.settings()
    assert loaded.is_trained_ and loaded.history_.keys() == trained.history_.keys()
    np.testing.assert_array_equal(loaded.train_indices_, trained.train_indices_)
    for key, frame in trained.history_.items():
        np.testing.assert_allclose(loaded.history_[key].to_numpy(float), frame.to_numpy(float))
    np.testing.assert_array_equal(
        loaded.get_cell_types().to_numpy(), trained.get_cell_types().to_numpy()
    )


def test_planted_pickle_payload_is_a_real_payload(tmp_path):
    # The control: unpickled, the payload does run. The tests below show it never is.
    pickle.loads(pickle.dumps(Payload(tmp_path / "ran")))
    assert (tmp_path / "ran").exists()


def test_payload_as_weights_file_never_runs(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    marker = tmp_path / "ran"
    weights = tmp_path / "m" / WEIGHTS_FILE
    torch.save({"model_state_dict": Payload(marker)}, weights)
    with pytest.raises(ValueError, match="not the one saved with the settings"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    # Even with its hash recorded, the pickle is not read as weights.
    _edit_settings(tmp_path / "m", lambda d: d.update(weights_sha256=sha256_of(weights)))
    with pytest.raises(ValueError, match=f"{WEIGHTS_FILE} is not readable"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert not marker.exists()


def test_payload_as_settings_file_never_runs(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    marker = tmp_path / "ran"
    (tmp_path / "m" / SETTINGS_FILE).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ValueError, match="is not a scmixvae model"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # A pickled payload hidden in an attribute, or an attribute of the wrong kind.
        (
            lambda d: d["attributes"].update(history_="gASVKAAAAAAAAACMCGJ1aWx0aW5zlIwEb3Blbp"),
            "history_",
        ),
        (lambda d: d["attributes"].update(spare_=[1]), "spare_"),
        (
            lambda d: d["attributes"].update(
                is_trained_={"__ndarray__": [1], "dtype": "|O8", "shape": [1]}
            ),
            "not plain data|not readable",
        ),
        # The registry naming a method or class other than scmixvae's set-up.
        (lambda d: d["registry"].update(setup_method_name="__init_subclass__"), "set-up method"),
        (lambda d: d["registry"].update(model_name="SCVI"), "another model class"),
        (lambda d: d["registry"].update(setup_args="os.system"), "set-up arguments"),
        (lambda d: d["settings"].update(payload="x"), "settings do not fit"),
        (lambda d: d["settings"].update(n_hidden=[]), "settings do not fit"),
        (lambda d: d["registry"]["setup_args"].update(layer=[]), "registry does not fit"),
        (lambda d: d.update(model="SCVI"), "does not describe a CplMixVAE"),
    ],
)
def test_tampered_settings_are_refused(trained, small_adata, tmp_path, edit, message):
    trained.save(tmp_path / "m")
    _edit_settings(tmp_path / "m", edit)
    obs_before = list(small_adata.obs.columns)
    with pytest.raises(ValueError, match=message):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert list(small_adata.obs.columns) == obs_before


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"{not json"])
def test_corrupt_or_empty_files_are_not_a_model(trained, small_adata, tmp_path, content):
    trained.save(tmp_path / "m")
    (tmp_path / "m" / SETTINGS_FILE).write_bytes(content)
    with pytest.raises(ValueError, match="is not a scmixvae model"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)


def test_truncated_weights_are_not_a_model(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    weights = tmp_path / "m" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="is not a scmixvae model"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)


def test_empty_or_foreign_folder_is_not_a_model(small_adata, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is not a scmixvae model"):
        scmixvae.CplMixVAE.load(tmp_path / "empty", adata=small_adata)
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "model.bin").write_bytes(np.random.default_rng(0).bytes(64))
    with pytest.raises(ValueError, match="is not a scmixvae model"):
        scmixvae.CplMixVAE.load(tmp_path / "random", adata=small_adata)


def test_pickled_model_is_refused_and_its_payload_never_runs(
    trained_as_before, small_adata, tmp_path
):
    marker = tmp_path / "ran"
    save_as_pickle(trained_as_before, tmp_path / "old", spare_=Payload(marker))
    with pytest.raises(ValueError, match="trust_pickle=True") as error:
        scmixvae.CplMixVAE.load(tmp_path / "old", adata=small_adata)
    assert "scmixvae convert" in str(error.value)
    assert not marker.exists()


def test_trusted_pickled_model_converts_to_the_safe_format(
    trained_as_before, small_adata, tmp_path
):
    save_as_pickle(trained_as_before, tmp_path / "old")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "old", adata=small_adata, trust_pickle=True)
    expected = trained_as_before.get_cell_types(soft=True).to_numpy()
    np.testing.assert_array_equal(loaded.get_cell_types(soft=True).to_numpy(), expected)
    scmixvae.CplMixVAE.convert(tmp_path / "old", tmp_path / "new", adata=small_adata)
    converted = scmixvae.CplMixVAE.load(tmp_path / "new", adata=small_adata)
    np.testing.assert_array_equal(converted.get_cell_types(soft=True).to_numpy(), expected)


def test_trusted_pickle_of_another_model_is_refused(trained_as_before, small_adata, tmp_path):
    save_as_pickle(trained_as_before, tmp_path / "old")
    saved = torch.load(tmp_path / "old" / "model.pt", weights_only=False)
    saved["attr_dict"]["registry_"]["model_name"] = "SCVI"
    torch.save(saved, tmp_path / "old" / "model.pt")
    with pytest.raises(ValueError, match="it is a SCVI model"):
        scmixvae.CplMixVAE.load(tmp_path / "old", adata=small_adata, trust_pickle=True)


def test_saved_settings_are_complete_and_survive_a_change_of_defaults(
    trained, small_adata, tmp_path, monkeypatch
):
    trained.save(tmp_path / "m")
    settings = json.loads((tmp_path / "m" / SETTINGS_FILE).read_text())["settings"]
    assert {"n_hidden", "kl_weight", "coupling_weight", "n_latent", "type_readout"} <= set(settings)
    original = CplMixVAEModule.__init__

    def new_defaults(self, *args, kl_weight=0.25, n_latent=7, **kwargs):
        original(self, *args, kl_weight=kl_weight, n_latent=n_latent, **kwargs)

    monkeypatch.setattr(CplMixVAEModule, "__init__", new_defaults)
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert loaded.module.kl_weight == trained.module.kl_weight == 1.0
    assert loaded.module.n_latent == trained.module.n_latent == 10


def test_a_model_saved_before_a_setting_was_added_loads_as_it_was_trained(
    trained_as_before, small_adata, tmp_path
):
    trained_as_before.save(tmp_path / "old")
    _edit_settings(tmp_path / "old", lambda d: d["settings"].pop("depth_in_decoder"))
    loaded = scmixvae.CplMixVAE.load(tmp_path / "old", adata=small_adata)
    assert not loaded.module.depth_in_decoder
    assert loaded.get_cell_types().equals(trained_as_before.get_cell_types())


def test_a_model_saved_with_a_removed_setting_loads_when_it_holds_the_kept_behaviour(
    trained, small_adata, tmp_path
):
    trained.save(tmp_path / "kept")
    _edit_settings(
        tmp_path / "kept",
        lambda d: d["settings"].update(n_enumerated=0, merge_method="geodesic", usage_weight=0.0),
    )
    loaded = scmixvae.CplMixVAE.load(tmp_path / "kept", adata=small_adata)
    assert loaded.get_cell_types().equals(trained.get_cell_types())
    trained.save(tmp_path / "variant")
    _edit_settings(tmp_path / "variant", lambda d: d["settings"].update(self_labelling=True))
    with pytest.raises(ValueError, match="self_labelling=True, a variant that scmixvae"):
        scmixvae.CplMixVAE.load(tmp_path / "variant", adata=small_adata)
