"""Sphinx configuration: `sphinx-build -W -b html docs docs/_build/html`."""

import importlib.metadata
import shutil
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent

project = "scmixvae"
author = "scmixvae developers"
copyright = "2026, scmixvae developers"  # noqa: A001
release = importlib.metadata.version("scmixvae")

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
autosummary_generate = True
# Class pages list the class's own documented members (see autodoc_default_options), without
# autosummary's table of every inherited scvi-tools / Lightning / torch method.
templates_path = ["_templates"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# Tutorials are executed when they are written and stored with their outputs.
nb_execution_mode = "off"
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "figures", "Thumbs.db", ".DS_Store"]
intersphinx_mapping = {}  # no network on the build machines

html_theme = "sphinx_book_theme"
html_title = "scmixvae"
html_theme_options = {"repository_url": "", "use_repository_button": False}
# Document each class's own members and those of scmixvae's mixins, not scvi-tools' or torch's.
autodoc_default_options = {
    "members": True,
    "inherited-members": (
        "UnsupervisedTrainingMixin,BaseModelClass,BaseModuleClass,TrainingPlan,LightningModule,"
        "ModelHooks,DataHooks,CheckpointHooks,HyperparametersMixin,Module,Callback,"
        "FloatingPointError,NegativeBinomial,Distribution"
    ),
}

# The tutorials live in tutorials/ at the top of the repository; Sphinx reads them from here.
shutil.copytree(ROOT / "tutorials", HERE / "tutorials", dirs_exist_ok=True)
