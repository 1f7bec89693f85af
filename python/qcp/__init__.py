"""qcp: post-training compression of ONNX models (quantized CP factorization, PQ, RTN/GPTQ).

Each function takes the options of the qcp command of the same name as keyword arguments (the
flag's name with dashes as underscores: ``rank_ratio=2`` for ``--rank-ratio 2``; a flag without a
value is ``True``; a repeatable flag takes a str or a list) and returns the report that
``qcp COMMAND --json`` prints, as a dict::

    import qcp
    report = qcp.compress("models/fmnist_resnet.onnx", "resnet_cp.onnx", method="admm-cp",
                          rank_ratio=2, bits=4, calib=images)   # images: numpy (N, 1, 28, 28)
    qcp.evaluate("resnet_cp.onnx", data=images, labels=labels)["top1"]

Data arguments (``calib``, ``data``, ``labels``) take what the CLI takes (a path, or
``"NAME=PATH"`` texts for a model with several inputs), a ``{input_name: path or array}`` dict,
or a numpy array of samples, batch first (float32 as is; uint8 scaled by 1/255, as a .npy file
would be); labels an integer array. Arrays are handed to the library as temporary .npy files,
and the report names them ``<array>``.

Bad input raises ``qcp.Error`` with the one-line message the CLI prints after "qcp: error: ";
an unknown keyword raises TypeError. Log lines go to stderr, warnings only unless
``qcp.set_log_level("normal")`` or ``("verbose")``.
"""

import os
import tempfile

from ._qcp import Error, __version__, set_log_level, set_max_memory
from . import _qcp

__all__ = ["Error", "compress", "inspect", "evaluate", "compare", "sweep", "convert", "set_log_level", "set_max_memory",
           "__version__"]

_ARRAY_NAME = "<array>"
# float32 is read as is, float16/float64 converted and uint8 scaled by 1/255 (dataset.hpp)
_SAMPLE_DTYPES = ("float32", "float16", "float64", "uint8")


def _is_array(value):
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape")


class _Arrays:
    """Writes the numpy arrays among the data arguments to .npy files in one temporary folder."""

    def __init__(self):
        self._dir = None
        self.paths = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._dir is not None:
            self._dir.cleanup()

    def _save(self, keyword, array, labels):
        import numpy as np

        array = np.ascontiguousarray(array)
        if labels:
            if array.dtype.kind not in "iu":
                raise TypeError(f"{keyword}= must be an integer array, got dtype {array.dtype}")
        elif array.dtype.name not in _SAMPLE_DTYPES:
            raise TypeError(f"{keyword}= array must be float32, float16, float64 or uint8, got dtype {array.dtype}")
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="qcp-")
        path = os.path.join(self._dir.name, f"{len(self.paths)}.npy")
        np.save(path, array, allow_pickle=False)
        self.paths.append(path)
        return path

    def source(self, keyword, value, labels=False):
        """A data argument as the CLI's texts (arrays saved), other values unchanged."""
        if _is_array(value):
            return self._save(keyword, value, labels)
        if isinstance(value, dict) and not labels:
            texts = []
            for name, item in value.items():
                path = self._save(keyword, item, False) if _is_array(item) else os.fspath(item)
                texts.append(f"{name}={path}")
            return texts
        return value

    def hide(self, value):
        """The report with every temporary path replaced by <array>."""
        if isinstance(value, dict):
            return {k: self.hide(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.hide(v) for v in value]
        if isinstance(value, str):
            for path in self.paths:
                value = value.replace(path, _ARRAY_NAME)
        return value


def _call(function, args, options, sources, labels):
    with _Arrays() as arrays:
        for key in sources:
            if key in options:
                options[key] = arrays.source(key, options[key])
        for key in labels:
            if key in options:
                options[key] = arrays.source(key, options[key], labels=True)
        return arrays.hide(function(*args, **options))


def compress(model, output=None, **options):
    """Compresses MODEL into OUTPUT (``qcp compress MODEL -o OUTPUT``); returns the --json report.

    Options: method, rank, rank_ratio, rank_align, bits (2-8 or "auto"), target_ratio, target_size,
    target_macs, cache, granularity, symmetric, block_size, damp, act_order, centroids, pq_block,
    pq_iters, pq_metric, pq_refit, calib, calib_count, objective, correct, layer, exclude, format,
    activations, act_calib, act_percentile, external_data, seed, threads, batch, opset,
    measure_latency, latency_reps, latency_batch, dry_run, force, sensitivity, max_drop with data,
    labels, count (the report then has "gate"; a failed gate is ``report["gate"]["passed"] == False``,
    not an exception), class_axis, mask_threshold, ctc_blank, input_shape, input_value and the image
    options size, mean, std, layout, data_layout, channels, channel_order, resize, pad.
    target_size takes bytes or a SIZE text ("5M").
    """
    return _call(_qcp.compress, (model, output), options, ("calib", "data"), ("labels",))


def inspect(model, **options):
    """The layers of MODEL and what qcp can do with each (``qcp inspect --json``); option: input_shape."""
    return _qcp.inspect(model, **options)


def evaluate(model, **options):
    """Runs MODEL on data= (``qcp eval --json``); options: labels, ref, count, batch, threads,
    dump_outputs, force, min_top1 (the report then has "gate": min_top1, top1, passed), class_axis,
    mask_threshold, ctc_blank, input_shape, input_value and the image options."""
    return _call(_qcp.evaluate, (model,), options, ("data",), ("labels",))


def compare(model_a, model_b, **options):
    """Runs MODEL_A and MODEL_B side by side on data= (``qcp compare --json``); options as evaluate's
    (labels, count, batch, threads, fidelity, input and image options)."""
    return _call(_qcp.compare, (model_a, model_b), options, ("data",), ("labels",))


def sweep(model=None, **options):
    """Compresses MODEL with every combination of methods and settings and evaluates each
    (``qcp sweep MODEL --data DATA --out DIR --json``); returns results.json as a dict. Options: data,
    labels, out (required), calib, calib_count, count, methods, bits, rank_ratios, centroids (each a
    list, one value or the CLI's "3,4,8"), force, seed, batch, threads, class_axis, mask_threshold,
    ctc_blank, input_shape, input_value and the image options. A combination that fails is a row
    with status "failed" (the CLI's exit 1), not an exception. ``sweep(out=DIR, replot=True)`` is
    ``qcp sweep --replot --out DIR``."""
    return _call(_qcp.sweep, (model,), options, ("calib", "data"), ("labels",))


def convert(model, output, **options):
    """Upgrades MODEL's default-domain opset to opset= and writes OUTPUT, checked in qcp's engine
    (``qcp convert MODEL -o OUTPUT --opset N --json``). Options: opset (required), calib (the check's
    samples: a path or an array), external_data, force, threads and the image options."""
    return _call(_qcp.convert, (model, output), options, ("calib",), ())
