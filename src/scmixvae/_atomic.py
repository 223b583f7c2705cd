"""Outputs that are never half-written: write under a temporary name, then rename into place.

A rename within one folder is atomic, so a reader (or a job killed at any moment) sees the
previous output or the new one, never a truncated file. The temporary name sits in the
target's own folder, so that the rename never crosses file systems. Ctrl+C and SIGTERM are
held while the output is written and delivered once the writing code has returned: an
interrupt raised inside a library's C code (h5py's, for one) can surface as an unrelated
error instead of a KeyboardInterrupt.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _temporary_sibling(target: Path, purpose: str) -> Path:
    return target.with_name(f".{target.name}.{purpose}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs, then deliver the first one received.

    Delivered to the handlers that were in place, so Ctrl+C raises its KeyboardInterrupt
    after the block (and the caller's clean-up runs as for any error). Signals are handled
    in the main thread only; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {
        number: signal.signal(number, lambda signum, frame: received.append(signum))
        for number in _STOP_SIGNALS
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if received:
            signal.raise_signal(received[0])


@contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``target`` to; it replaces ``target`` on success.

    If the block raises (or is interrupted), the temporary file is removed and ``target``
    is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_file(folder / "out.txt") as temporary:
    ...     _ = temporary.write_text("done")
    >>> (folder / "out.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['out.txt'])

    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(target, "partial")
    try:
        with _stop_signals_held():
            yield temporary
        os.replace(temporary, target)
    finally:
        _remove(temporary)


@contextmanager
def atomic_directory(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill; it takes the place of folder ``target`` on success.

    An existing ``target`` is refused unless ``overwrite``; then it is moved aside and
    removed only once the new folder is in place, so that a kill leaves one or the other.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_directory(folder) as temporary:
    ...     _ = (temporary / "weights").write_text("w")
    >>> sorted(p.name for p in folder.iterdir())
    ['weights']

    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise ValueError(
            f"{str(target)!r} already exists; pass overwrite=True to replace it, or another path."
        )
    if target.exists() and not target.is_dir():
        raise ValueError(f"{str(target)!r} is a file, not a folder; choose another path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(target, "partial")
    temporary.mkdir()
    previous = _temporary_sibling(target, "previous")
    try:
        with _stop_signals_held():
            yield temporary
        if target.exists():
            os.replace(target, previous)
        os.replace(temporary, target)
    finally:
        _remove(temporary)
        _remove(previous)
