"""A saved model's attributes as plain JSON data, and back, without running any code.

Saved models travel between labs, so reading one must never execute what it holds: a pickle
can call any function while it is read. Here every attribute is written as JSON, the few
types JSON lacks (arrays, data frames) as tagged objects, and read back by a decoder that
builds nothing but numbers, strings, lists, dicts, numeric or string arrays and data frames.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

#: Array element kinds that can be saved: bool, integers, floats, strings.
_ARRAY_KINDS = "biufUO"
_ARRAY_TAG, _FRAME_TAG = "__ndarray__", "__dataframe__"


class NotPlainDataError(ValueError):
    """A value that cannot be saved as, or is not, plain data."""


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | np.integer | np.floating | np.bool_):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, pd.DataFrame):
        return {
            _FRAME_TAG: {
                "columns": [str(column) for column in value.columns],
                "index": _encode(value.index.to_numpy(), f"{where}.index"),
                "index_name": _encode(value.index.name, f"{where}.index_name"),
                "data": [
                    _encode(value[column].to_numpy(), f"{where}[{column!r}]")
                    for column in value.columns
                ],
            }
        }
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ARRAY_KINDS:
            raise NotPlainDataError(f"{where}: arrays of {value.dtype} cannot be saved.")
        if value.dtype.kind == "O":  # strings, or dicts and lists (a pruning table's column)
            if value.ndim != 1:
                raise NotPlainDataError(f"{where}: only 1-D arrays of objects can be saved.")
            return {_ARRAY_TAG: [_encode(item, where) for item in value.tolist()], "dtype": "O"}
        dtype = "str" if value.dtype.kind == "U" else value.dtype.str
        return {_ARRAY_TAG: value.tolist(), "dtype": dtype, "shape": list(value.shape)}
    if isinstance(value, list | tuple):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise NotPlainDataError(f"{where}: only dicts with string keys can be saved.")
        if _ARRAY_TAG in value or _FRAME_TAG in value:
            raise NotPlainDataError(f"{where}: the keys {_ARRAY_TAG}, {_FRAME_TAG} are reserved.")
        return {key: _encode(item, f"{where}.{key}") for key, item in value.items()}
    raise NotPlainDataError(
        f"{where}: a {type(value).__name__} cannot be saved as plain data (numbers, strings, "
        "lists, dicts, arrays and data frames only)."
    )


def _decode_array(tagged: dict, where: str) -> np.ndarray:
    dtype = tagged.get("dtype")
    if dtype == "O":
        items = tagged[_ARRAY_TAG]
        array = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):  # item by item: equal-length lists stay items
            array[i] = _decode(item, where)
        return array
    if dtype == "str":
        return np.array(tagged[_ARRAY_TAG], dtype=str).reshape(tagged["shape"])
    if not isinstance(dtype, str) or np.dtype(dtype).kind not in "biuf":
        raise NotPlainDataError(f"{where}: arrays of dtype {dtype!r} are not plain data.")
    return np.array(tagged[_ARRAY_TAG], dtype=np.dtype(dtype)).reshape(tagged["shape"])


def _decode(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return [_decode(item, where) for item in value]
    if not isinstance(value, dict):
        return value
    if _ARRAY_TAG in value:
        return _decode_array(value, where)
    if _FRAME_TAG in value:
        frame = value[_FRAME_TAG]
        columns = [_decode(column, where) for column in frame["data"]]
        index = pd.Index(_decode(frame["index"], where), name=frame.get("index_name"))
        return pd.DataFrame(dict(zip(frame["columns"], columns, strict=True)), index=index)
    return {key: _decode(item, f"{where}.{key}") for key, item in value.items()}


def dumps(value: Any) -> str:
    """Return ``value`` as JSON text; raise :class:`NotPlainDataError` for anything else.

    Examples
    --------
    >>> text = dumps({"genes": np.array(["a", "b"]), "n": np.int64(3)})
    >>> loads(text)["genes"].tolist(), loads(text)["n"]
    (['a', 'b'], 3)

    """
    return json.dumps(_encode(value, "value"))


def loads(text: str) -> Any:
    """Read JSON text written by :func:`dumps`: plain data only, no code is run.

    Raises :class:`NotPlainDataError` when the text is not JSON or holds a tagged value that
    is not plain data.

    Examples
    --------
    >>> loads('{"x": {"__ndarray__": [1, 2], "dtype": "<i8", "shape": [2]}}')["x"]
    array([1, 2])

    """
    try:
        return _decode(json.loads(text), "value")
    except NotPlainDataError:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise NotPlainDataError(f"not plain data written by scmixvae ({error}).") from None
