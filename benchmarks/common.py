"""What every benchmark shares: its datasets, where results go, what each row records.

Rows are appended to ``results/<name>.jsonl`` and tables written beside the scripts; with
``SCMIXVAE_BENCHMARK_OUT`` set (``regenerate.py --quick``) both go to that folder instead,
so a quick run never touches the committed results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import textwrap
from pathlib import Path

import anndata
import pandas as pd
import scanpy as sc
import scvi
import torch

import scmixvae

HERE = Path(__file__).parent
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}


def results_path(name: str) -> Path:
    """Where the rows of ``name`` (``accuracy.jsonl``, ...) are appended."""
    out = os.environ.get("SCMIXVAE_BENCHMARK_OUT")
    return Path(out) / "results" / name if out else HERE / "results" / name


def table_path(name: str) -> Path:
    """Where the table ``name`` (``accuracy.md``, ...) is written."""
    out = os.environ.get("SCMIXVAE_BENCHMARK_OUT")
    return Path(out) / name if out else HERE / name


def load(name: str) -> tuple[anndata.AnnData, str]:
    """The benchmark datasets: AnnData with counts in layers['counts'], and the label column."""
    if name == "zeisel7":
        return scmixvae.datasets.zeisel(), "class"
    if name == "zeisel47":
        adata = scmixvae.datasets.zeisel()
        adata = adata[adata.obs["subclass"] != "(none)"].copy()
        adata.obs["subclass"] = adata.obs["subclass"].cat.remove_unused_categories()
        return adata, "subclass"
    if name == "pbmc":
        return scmixvae.datasets.pbmc68k(), "bulk_labels"
    if name == "sim40":
        return scmixvae.datasets.simulate(n_cells=6000, n_types=40, n_genes=1000, seed=0), "type"
    # More simulations, for checks that one simulation could mislead: sim<T>s<seed>.
    simulation = re.fullmatch(r"sim(\d+)s(\d+)", name)
    if simulation:
        n_types, seed = (int(value) for value in simulation.groups())
        adata = scmixvae.datasets.simulate(n_cells=6000, n_types=n_types, n_genes=1000, seed=seed)
        return adata, "type"
    # large<T>s<seed>[n<cells>]: 2,000 genes and 20,000 cells unless n<cells> says otherwise
    # (more than the start samples); "hard" adds Zipf sizes (exponent 1.5, rare types),
    # 2 markers a type and 1,500 counts a cell.
    large = re.fullmatch(r"(large|hard)(\d+)s(\d+)(?:n(\d+))?", name)
    if large:
        kind, n_types, seed = large.group(1), int(large.group(2)), int(large.group(3))
        harder = {"imbalance": 1.5, "n_markers": 2, "library_size": 1500.0}
        adata = scmixvae.datasets.simulate(
            n_cells=int(large.group(4) or 20_000),
            n_types=n_types,
            n_genes=2000,
            seed=seed,
            **(harder if kind == "hard" else {}),
        )
        return adata, "type"
    raise ValueError(name)


DATASETS = ["zeisel7", "zeisel47", "pbmc", "sim40"]


def git_commit() -> str | None:
    """The checkout's commit, ``+`` if the code (``src/``, benchmark scripts) has uncommitted
    changes; None outside git. Result files and tables do not count.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "../src", "*.py"],
            capture_output=True,
            text=True,
            cwd=HERE,
        ).stdout.strip()
    except OSError:
        return None
    return (commit + ("+" if dirty else "")) or None


def run_metadata() -> dict:
    """Threads, machine, versions and commit, recorded with every benchmark row."""
    return {
        "commit": git_commit(),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "versions": (
            f"scmixvae {scmixvae.__version__}, scvi-tools {scvi.__version__}, "
            f"torch {torch.__version__}, scanpy {sc.__version__}"
        ),
    }


def command_line(doc: str) -> argparse.ArgumentParser:
    """A benchmark's argument parser: its docstring as the help, and ``--render``."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--render", action="store_true", help="only write the table")
    return parser


def dataset_seed_main(
    doc: str,
    run,
    render,
    results: Results,
    datasets=tuple(DATASETS),
    options=None,
    variants: dict | None = None,
) -> None:
    """Command line of a benchmark with one row per dataset and seed: run them, or render.

    ``run(dataset, seed, **settings)`` returns the row (or a list of rows) appended to
    ``results``; ``render()``
    writes the table; ``--dataset`` defaults to ``datasets``. ``options`` maps each further
    integer setting of ``run`` to its default; it is set by ``--<setting>`` (``_`` as ``-``).
    With ``variants`` (names to settings), ``--variant`` picks some (default ``"default"``)
    and ``run(dataset, variant, seed, **settings)`` runs each.
    """
    parser = command_line(doc)
    parser.add_argument("--dataset", nargs="+", default=list(datasets))
    if variants is not None:
        parser.add_argument("--variant", nargs="+", default=["default"], choices=list(variants))
    parser.add_argument("--seed", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1)
    options = options or {}
    for name, default in options.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.render:
        render()
        return
    settings = {name: getattr(args, name) for name in options}
    named = [(variant,) for variant in args.variant] if variants is not None else [()]
    for dataset in args.dataset:
        for variant in named:
            for seed in args.seed:
                rows = run(dataset, *variant, seed, **settings)
                for row in rows if isinstance(rows, list) else [rows]:
                    results.append(row)


def read_rows(path: Path) -> pd.DataFrame:
    """The rows appended to ``path``, one per line; commits stay strings (``"6627871"``)."""
    return pd.read_json(path, lines=True, dtype={"commit": object})


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` as one JSON line to ``path`` (created with its folder) and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


class Results:
    """One benchmark's results, ``results/<name>.jsonl``, and the table made from them.

    Examples
    --------
    >>> results = Results("accuracy")
    >>> results.path.name, results.table
    ('accuracy.jsonl', 'accuracy.md')

    """

    def __init__(self, name: str, table: str | None = None):
        self.path = results_path(f"{name}.jsonl")
        self.table = table or f"{name}.md"

    def append(self, row: dict) -> None:
        """Append one row (:func:`append_row`)."""
        append_row(self.path, row)

    def rows(self) -> pd.DataFrame:
        """Every row appended so far (:func:`read_rows`)."""
        return read_rows(self.path)

    def write_table(self, lines: list[str], rows: pd.DataFrame | None = None) -> None:
        """Write the table from its markdown ``lines`` (:func:`write_table`)."""
        write_table(self.table, lines, rows)


def prose(text: str) -> list[str]:
    """A table's text, written as an indented block, as markdown lines.

    Examples
    --------
    >>> prose('''
    ...     First line,
    ...     second line.
    ... ''')
    ['First line,', 'second line.']

    """
    return textwrap.dedent(text).strip("\n").splitlines()


def machine_line(latest: pd.DataFrame) -> str:
    return (
        f"Machine and versions: {latest.machine.iloc[-1]}, "
        f"{latest.threads.iloc[-1]} torch threads; {latest.versions.iloc[-1]}."
    )


def write_table(name: str, lines: list[str], rows: pd.DataFrame | None = None) -> None:
    """Write the table ``name`` (``accuracy.md``, ...) from its markdown ``lines``; print it.

    With ``rows`` (the results the table was rendered from) it ends with their
    :func:`machine_line`.
    """
    if rows is not None:
        lines = [*lines, "", machine_line(rows)]
    text = "\n".join(lines).rstrip("\n") + "\n"
    table_path(name).write_text(text)
    print(text, end="")
