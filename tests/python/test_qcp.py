"""`import qcp` against the CLI: the same reports as --json, the same one-line errors, numpy data
equal to files, and the README's Python example. Run by CTest as `python` (PYTHONPATH=build/python,
QCP_BINARY, QCP_SOURCE_DIR set there)."""

import gzip
import json
import os
import pathlib
import re
import subprocess
import threading
import time

import numpy as np
import pytest

import qcp

SOURCE = pathlib.Path(os.environ.get("QCP_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BINARY = os.environ.get("QCP_BINARY", str(SOURCE / "build" / "qcp"))
MODELS = SOURCE / "models"
FIXTURES = SOURCE / "tests" / "data" / "fixtures"
FMNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
RESNET = str(MODELS / "fmnist_resnet.onnx")
MLP = str(MODELS / "fmnist_mlp.onnx")
MOBILENET = str(MODELS / "fmnist_mobilenet.onnx")  # the quickest to factorize (~5 s)
# keys whose values are wall-clock measurements: never equal between two runs
TIMING_KEYS = {"seconds", "seconds_per_batch", "samples_per_second"}


def cli(*args):
    """Runs the qcp binary; returns (exit code, stdout, stderr)."""
    r = subprocess.run([BINARY, "-q", *map(str, args)], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def cli_json(*args):
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def cli_error(*args):
    """The CLI's one-line error, without the "qcp: error: " prefix."""
    code, out, err = cli(*args)
    assert code == 2 and out == "" and err.count("\n") == 1, (code, out, err)
    assert err.startswith("qcp: error: ")
    return err[len("qcp: error: "):].rstrip("\n")


def untimed(report):
    """The report without timings."""
    if isinstance(report, dict):
        return {k: untimed(v) for k, v in report.items() if k not in TIMING_KEYS}
    if isinstance(report, list):
        return [untimed(v) for v in report]
    return report


def idx_images(name, count):
    """The first `count` Fashion-MNIST images of an IDX file as float32 (N, 1, 28, 28) in [0, 1]."""
    with gzip.open(FMNIST / name) as f:
        pixels = np.frombuffer(f.read(16 + count * 28 * 28), np.uint8, offset=16)
    return (pixels.reshape(count, 1, 28, 28) / np.float32(255)).astype(np.float32)


def idx_labels(name, count):
    with gzip.open(FMNIST / name) as f:
        return np.frombuffer(f.read(8 + count), np.uint8, offset=8).astype(np.int64)


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    """128 training images, as an array and as the same array in a .npy file."""
    images = idx_images("train-images-idx3-ubyte.gz", 128)
    path = tmp_path_factory.mktemp("calib") / "calib.npy"
    np.save(path, images)
    return images, str(path)


def compress_both(tmp_path, model, calib_path, *flags, **options):
    """Compresses with the CLI (flags) and the module (options, calib= the array or path given);
    returns (cli report, module report, cli output path, module output path)."""
    cli_out, py_out = tmp_path / "cli.onnx", tmp_path / "py.onnx"
    expected = cli_json("compress", model, "-o", cli_out, *flags, *(("--calib", calib_path) if calib_path else ()))
    got = qcp.compress(model, str(py_out), **options)
    return expected, got, cli_out, py_out


def same_report(expected, got, cli_out, py_out):
    """Equal in content: every key and value but the timings and the output path."""
    assert list(got) == list(expected)  # same keys, same order
    assert got["output"]["path"] == str(py_out)
    assert expected["output"]["path"] == str(cli_out)
    e, g = untimed(expected), untimed(got)
    e["output"].pop("path"), g["output"].pop("path")
    assert g == e


@pytest.mark.parametrize("model,method,bits,more", [(RESNET, "rtn", 8, {}), (MOBILENET, "admm-cp", 4, {"rank_ratio": 2})])
def test_compress_equals_cli_json(tmp_path, calib, model, method, bits, more):
    images, path = calib
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in more.items()]
    expected, got, cli_out, py_out = compress_both(
        tmp_path, model, path, "--method", method, "--bits", bits, "--seed", 3, "--threads", 2, *flags,
        method=method, bits=bits, seed=3, threads=2, calib=path, **more)
    same_report(expected, got, cli_out, py_out)
    assert got["settings"]["calib"] == path and got["check"]["samples"] == 128
    assert got["output"]["bytes"] == py_out.stat().st_size < got["input"]["bytes"]
    assert py_out.read_bytes() == cli_out.read_bytes()  # same seed: the same file
    layers = [l for l in got["layers"] if l["status"] != "skipped"]
    assert layers and all(l["method"] == method and l["bits"] == bits for l in layers)
    # the written model runs: evaluate on it, as `qcp eval --json`
    test_images, labels = str(FMNIST / "t10k-images-idx3-ubyte.gz"), str(FMNIST / "t10k-labels-idx1-ubyte.gz")
    r = qcp.evaluate(str(py_out), data=test_images, labels=labels, ref=model, count=500)
    assert untimed(r) == untimed(cli_json("eval", py_out, "--data", test_images, "--labels", labels, "--ref", model,
                                          "--count", 500))
    assert r["samples"] == 500 and 0.8 < r["top1"] <= 1 and 0.9 < r["agreement"] <= 1


def test_numpy_calib_equals_file_calib(tmp_path, calib):
    images, path = calib
    options = dict(method="admm-cp", bits=3, rank_ratio=3, seed=1)
    from_file = qcp.compress(MOBILENET, str(tmp_path / "file.onnx"), calib=path, **options)
    from_array = qcp.compress(MOBILENET, str(tmp_path / "array.onnx"), calib=images, **options)
    assert (tmp_path / "array.onnx").read_bytes() == (tmp_path / "file.onnx").read_bytes()
    assert from_array["settings"]["calib"] == "<array>"  # the temporary file is not named
    assert not [p for p in os.listdir(os.environ.get("TMPDIR", "/tmp")) if p.startswith("qcp-")
                and str(p) in json.dumps(from_array)]
    for r in (from_file, from_array):
        r["settings"].pop("calib"), r["output"].pop("path")
    assert untimed(from_array) == untimed(from_file)
    # uint8 samples are scaled by 1/255 as a uint8 .npy file is
    raw = np.round(images * 255).astype(np.uint8)
    from_uint8 = qcp.compress(MOBILENET, str(tmp_path / "u8.onnx"), calib=raw, method="rtn")
    np.save(tmp_path / "u8.npy", raw)
    from_uint8_file = qcp.compress(MOBILENET, str(tmp_path / "u8f.onnx"), calib=str(tmp_path / "u8.npy"), method="rtn")
    assert from_uint8["check"] == from_uint8_file["check"] and from_uint8["check"]["samples"] == 128


def test_numpy_eval_and_compare_data(tmp_path):
    images = idx_images("t10k-images-idx3-ubyte.gz", 300)
    labels = idx_labels("t10k-labels-idx1-ubyte.gz", 300)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    from_arrays = qcp.evaluate(MLP, data=images, labels=labels)
    from_files = qcp.evaluate(MLP, data=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    assert untimed(from_arrays) == untimed(from_files)
    assert from_arrays["samples"] == 300 and from_arrays["top1"] > 0.7
    qcp.compress(MLP, str(tmp_path / "mlp8.onnx"), method="rtn", bits=8)
    got = qcp.compare(MLP, str(tmp_path / "mlp8.onnx"), data=images, labels=labels)
    expected = cli_json("compare", MLP, tmp_path / "mlp8.onnx", "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy")
    assert untimed(got) == untimed(expected)
    assert got["samples"] == 300 and got["agreement"] > 0.98


def test_two_input_model_takes_a_dict_of_arrays(tmp_path):
    model = str(FIXTURES / "two_inputs.onnx")
    x, s = np.load(FIXTURES / "two_inputs_x.npy"), np.load(FIXTURES / "two_inputs_s.npy")
    expected = cli_json("compress", model, "-o", tmp_path / "cli.onnx", "--method", "rtn",
                        "--calib", f"x={FIXTURES / 'two_inputs_x.npy'}", "--calib", f"s={FIXTURES / 'two_inputs_s.npy'}")
    got = qcp.compress(model, str(tmp_path / "py.onnx"), method="rtn", calib={"x": x, "s": s})
    assert got["settings"]["calib"] == "x=<array> s=<array>"
    assert got["check"] == expected["check"] and got["check"]["samples"] == 24
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()
    # a path and an array mixed, and --input-value as a dict
    r = qcp.evaluate(str(tmp_path / "py.onnx"), data={"x": str(FIXTURES / "two_inputs_x.npy")}, input_value={"s": 0.5})
    assert r["samples"] == 24


def test_inspect_equals_cli_json():
    for model in (RESNET, MLP):
        assert qcp.inspect(model) == cli_json("inspect", model)
    model = str(FIXTURES / "two_inputs.onnx")
    got = qcp.inspect(model, input_shape={"x": [2, 3, 8, 12]})
    assert got == cli_json("inspect", model, "--input-shape", "x=2,3,8,12")
    assert qcp.inspect(model, input_shape="x=2,3,8,12") == got


def error_of(call):
    with pytest.raises(qcp.Error) as e:
        call()
    return str(e.value)


def test_errors_are_qcp_error_with_the_cli_message(tmp_path):
    out = tmp_path / "out.onnx"
    missing = str(tmp_path / "missing.onnx")
    corrupt = str(SOURCE / "tests" / "bad_inputs" / "random_bytes" / "model.onnx")
    truncated = str(SOURCE / "tests" / "bad_inputs" / "truncated_50pct" / "model.onnx")
    cases = [
        (lambda: qcp.compress(missing, str(out)), ("compress", missing, "-o", out)),
        (lambda: qcp.compress(corrupt, str(out), method="rtn"), ("compress", corrupt, "-o", out, "--method", "rtn")),
        (lambda: qcp.compress(truncated, str(out)), ("compress", truncated, "-o", out)),
        (lambda: qcp.compress(RESNET, str(out), method="gptq"), ("compress", RESNET, "-o", out, "--method", "gptq")),
        (lambda: qcp.compress(RESNET, str(out), bits="auto"), ("compress", RESNET, "-o", out, "--bits", "auto")),
        (lambda: qcp.compress(RESNET, str(out), rank=8, rank_ratio=2), ("compress", RESNET, "-o", out, "--rank", 8, "--rank-ratio", 2)),
        (lambda: qcp.compress(RESNET, str(out), latency_reps=5), ("compress", RESNET, "-o", out, "--latency-reps", 5)),
        (lambda: qcp.compress(RESNET, str(out), labels=missing), ("compress", RESNET, "-o", out, "--labels", missing)),
        (lambda: qcp.compress(RESNET, str(out), calib=missing), ("compress", RESNET, "-o", out, "--calib", missing)),
        (lambda: qcp.compress(RESNET, RESNET, force=True), ("compress", RESNET, "-o", RESNET, "--force")),
        (lambda: qcp.compress(RESNET), ("compress", RESNET)),
        (lambda: qcp.inspect(corrupt), ("inspect", corrupt)),
        (lambda: qcp.inspect(MLP, input_shape={"nope": [1, 2]}), ("inspect", MLP, "--input-shape", "nope=1,2")),
        (lambda: qcp.evaluate(missing, data=str(FMNIST / "t10k-images-idx3-ubyte.gz")),
         ("eval", missing, "--data", FMNIST / "t10k-images-idx3-ubyte.gz")),
        (lambda: qcp.evaluate(MLP, data=missing), ("eval", MLP, "--data", missing)),
        (lambda: qcp.compare(MLP, missing, data=str(FMNIST / "t10k-images-idx3-ubyte.gz")),
         ("compare", MLP, missing, "--data", FMNIST / "t10k-images-idx3-ubyte.gz")),
    ]
    for call, args in cases:
        assert error_of(call) == cli_error(*args), args
        assert not out.exists(), args  # never an output on error
    # values outside an allowed set: the CLI refuses them while parsing, in CLI11's words
    # ("--format: int3 not in {...}"); the module refuses them with the library's message
    for kw, value, flag in [("bits", 9, "--bits"), ("format", "int3", "--format"), ("granularity", "row", "--granularity"),
                            ("channel_order", "grb", "--channel-order")]:
        message = error_of(lambda: qcp.compress(RESNET, str(out), **{kw: value}))
        assert kw in message.replace("-", "_").replace(" ", "_") and "\n" not in message, (kw, message)
        assert str(value) in cli_error("compress", RESNET, "-o", out, flag, value)
        assert not out.exists(), kw
    assert "bits must be between 2 and 8" in error_of(lambda: qcp.compress(RESNET, str(out), bits=9))
    assert issubclass(qcp.Error, Exception)
    # an existing output is kept without force=True
    out.write_bytes(b"keep")
    assert "already exists" in error_of(lambda: qcp.compress(MLP, str(out), method="rtn"))
    assert out.read_bytes() == b"keep"


def test_bad_keywords_are_type_errors(tmp_path):
    out = str(tmp_path / "out.onnx")
    with pytest.raises(TypeError, match="unexpected keyword argument 'rank_ration'"):
        qcp.compress(RESNET, out, rank_ration=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'ref'"):
        qcp.compress(RESNET, out, ref=RESNET)
    with pytest.raises(TypeError, match="unexpected keyword argument 'labels'"):
        qcp.inspect(RESNET, labels="x")
    with pytest.raises(TypeError, match="bits= must be an int from 2 to 8 or 'auto', got float"):
        qcp.compress(RESNET, out, bits=4.5)
    with pytest.raises(TypeError, match="force= must be True or False, got int"):
        qcp.compress(RESNET, out, force=1)
    with pytest.raises(TypeError, match="rank= must be an int, got str"):
        qcp.compress(RESNET, out, rank="8")
    with pytest.raises(TypeError, match="data"):
        qcp.evaluate(RESNET)
    with pytest.raises(TypeError, match="calib= array must be float32"):
        qcp.compress(RESNET, out, calib=np.zeros((2, 1, 28, 28), np.int32))
    with pytest.raises(TypeError, match="labels= must be an integer array"):
        qcp.evaluate(MLP, data=np.zeros((2, 1, 28, 28), np.float32), labels=np.zeros(2, np.float32))
    assert not os.path.exists(out)


def test_dry_run_gate_and_options(tmp_path):
    plan = qcp.compress(RESNET, dry_run=True, rank=8, layer=[r"conv.*=bits=3"], exclude="fc")
    expected = cli_json("compress", RESNET, "--dry-run", "--rank", 8, "--layer", "conv.*=bits=3", "--exclude", "fc")
    assert untimed(plan) == untimed(expected)
    assert plan["output"]["path"] is None
    # the accuracy gate: the report gets "gate", as the CLI's --max-drop
    images, labels = idx_images("t10k-images-idx3-ubyte.gz", 200), idx_labels("t10k-labels-idx1-ubyte.gz", 200)
    r = qcp.compress(MLP, str(tmp_path / "g.onnx"), method="rtn", bits=8, max_drop=5, data=images, labels=labels)
    assert r["gate"]["passed"] is True and r["gate"]["samples"] == 200 and r["gate"]["metric"] == "top1"


def test_gil_is_released_during_compress(tmp_path):
    """Another Python thread keeps running while the library works."""
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    start = time.monotonic()
    try:
        qcp.compress(MOBILENET, str(tmp_path / "o.onnx"), method="admm-cp", rank_ratio=4, bits=3)
    finally:
        done.set()
        t.join()
    elapsed = time.monotonic() - start
    # holding the GIL, the call would leave the thread no tick at all; released, it ticks every 10 ms
    during = [x for x in ticks if start < x < start + elapsed]
    assert elapsed > 0.1 and len(during) > 0.2 * elapsed / 0.01, (elapsed, len(during))


def test_log_level_and_max_memory():
    qcp.set_log_level("normal")
    qcp.set_log_level("quiet")
    assert error_of(lambda: qcp.set_log_level("loud")) == "log level must be quiet, normal or verbose, got 'loud'"
    assert error_of(lambda: qcp.set_max_memory("lots")) == cli_error("--max-memory", "lots", "inspect", MLP)
    qcp.set_max_memory("100K")
    try:
        assert "out of memory budget" in error_of(lambda: qcp.evaluate(MLP, data=idx_images("t10k-images-idx3-ubyte.gz", 100)))
    finally:
        qcp.set_max_memory("0")


def readme_python_example():
    """The ```python block of README's "Python" section."""
    text = (SOURCE / "README.md").read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(MODELS)
    exec(compile(readme_python_example(), "README.md", "exec"), {})
    assert (tmp_path / "mobilenet_cp.onnx").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "top-1" in printed, printed
