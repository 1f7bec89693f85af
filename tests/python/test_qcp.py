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
TIMING_KEYS = {"seconds", "seconds_per_batch", "samples_per_second", "seconds_compress", "seconds_eval"}


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
    # --target-drop: the ratio searched against that gate, the largest passing try kept
    r = qcp.compress(MLP, str(tmp_path / "d.onnx"), method="rtn", bits="auto", target_drop=1, target_drop_tries=3, data=images,
                     labels=labels)
    s = r["target_drop"]
    assert s["passed"] is True and len(s["tries"]) <= 3 and s["tries"][0]["ratio"] == 2
    assert s["chosen_ratio"] == max(t["ratio"] for t in s["tries"] if t.get("passed"))
    assert r["gate"]["drop"] <= 1 and r["totals"]["compression_ratio"] >= s["chosen_ratio"] * (1 - 1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.onnx", "g.onnx"]  # no try left behind


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
    """The ```python blocks of README's "Python" section, in order."""
    text = (SOURCE / "README.md").read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 2, "README's Python section: the compress/evaluate example and the sweep example"
    return "\n".join(blocks)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(MODELS)
    exec(compile(readme_python_example(), "README.md", "exec"), {})
    assert (tmp_path / "mobilenet_cp.onnx").stat().st_size > 0
    assert (tmp_path / "mlp_sweep" / "results.csv").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "top-1" in printed and "rtn-b8" in printed, printed


def replaced(report, old, new):
    """The report with every occurrence of the text `old` in its strings replaced by `new`."""
    if isinstance(report, dict):
        return {k: replaced(v, old, new) for k, v in report.items()}
    if isinstance(report, list):
        return [replaced(v, old, new) for v in report]
    if isinstance(report, str):
        return report.replace(old, new)
    return report


def test_sweep_equals_cli_json_with_numpy_data(tmp_path):
    """qcp.sweep on arrays is `qcp sweep --json` on the same samples in .npy files; replot=True is --replot."""
    images = idx_images("t10k-images-idx3-ubyte.gz", 200)
    labels = idx_labels("t10k-labels-idx1-ubyte.gz", 200)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    cli_dir, py_dir = tmp_path / "cli", tmp_path / "py"
    expected = cli_json("sweep", MLP, "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--out", cli_dir,
                        "--methods", "rtn", "--bits", "4,8", "--centroids", 16, "--rank-ratios", "3,4.5", "--count", 150,
                        "--calib", tmp_path / "x.npy", "--calib-count", 64, "--seed", 2)
    got = qcp.sweep(MLP, data=images, labels=labels, out=str(py_dir), methods=["rtn"], bits="4,8", centroids=16,
                    rank_ratios=(3, 4.5), count=150, calib=images, calib_count=64, seed=2)
    assert [r["name"] for r in got["rows"]] == ["rtn-b4", "rtn-b8"]  # rank ratios and centroids: CP and pq only
    assert got["settings"]["centroids"] == [16] and got["settings"]["rank_ratios"] == [3, 4.5]
    assert all(r["status"] == "ok" for r in got["rows"]) and got["reference"]["samples"] == 150
    assert got["settings"]["data"] == got["settings"]["calib"] == "<array>"
    assert got["settings"]["labels"] == "<array>"
    e = replaced(replaced(replaced(untimed(expected), str(cli_dir), "OUT"), str(tmp_path / "x.npy"), "<array>"),
                 str(tmp_path / "y.npy"), "<array>")
    assert replaced(untimed(got), str(py_dir), "OUT") == e
    for row in got["rows"]:  # the same models, byte for byte
        assert (py_dir / row["path"]).read_bytes() == (cli_dir / row["path"]).read_bytes()
    assert (py_dir / "results.csv").stat().st_size > 0 and (py_dir / "pareto.svg").stat().st_size > 0
    # --replot: the finished sweep's report, files redrawn
    (py_dir / "results.md").unlink()
    replot = qcp.sweep(out=str(py_dir), replot=True)
    assert untimed(replot) == untimed(cli_json("sweep", "--replot", "--out", py_dir))
    assert (py_dir / "results.md").exists()
    # an existing sweep is kept without force=True
    assert "already exists" in error_of(lambda: qcp.sweep(MLP, data=images, out=str(py_dir), methods="rtn", bits=8))


def test_convert_equals_cli_json(tmp_path):
    calib = idx_images("t10k-images-idx3-ubyte.gz", 8)
    np.save(tmp_path / "c.npy", calib)
    expected = cli_json("convert", RESNET, "-o", tmp_path / "cli.onnx", "--opset", 17, "--calib", tmp_path / "c.npy")
    got = qcp.convert(RESNET, str(tmp_path / "py.onnx"), opset=17, calib=calib)  # the shipped models are opset 13
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()
    e = replaced(replaced(untimed(expected), str(tmp_path / "cli.onnx"), "OUT"), str(tmp_path / "c.npy"), "<array>")
    assert replaced(untimed(got), str(tmp_path / "py.onnx"), "OUT") == e
    check = got["conversion"]["check"]
    assert check["ran"] and check["inputs"] == "calibration data" and check["samples"] == 4
    assert got["output"]["opset"] == 17 and got["conversion"]["onnx_converter_steps"] == 1
    # random inputs without calib; an existing output needs force=True
    r = qcp.convert(MLP, str(tmp_path / "py.onnx"), opset=21, force=True)
    assert r["conversion"]["check"]["inputs"] == "random" and r["output"]["opset"] == 21
    with pytest.raises(TypeError, match="missing required keyword argument 'opset'"):
        qcp.convert(RESNET, str(tmp_path / "x.onnx"))
    for call, args in [(lambda: qcp.convert(RESNET, str(tmp_path / "py.onnx"), opset=17),
                        ("convert", RESNET, "-o", tmp_path / "py.onnx", "--opset", 17)),
                       (lambda: qcp.convert(RESNET, str(tmp_path / "x.onnx"), opset=99),
                        ("convert", RESNET, "-o", tmp_path / "x.onnx", "--opset", 99))]:
        assert error_of(call) == cli_error(*args), args
    assert not (tmp_path / "x.onnx").exists()


def test_checks_moved_into_the_library_give_the_cli_message(tmp_path):
    """The cross-option checks the CLI and the module each made are compress()'s, sweep()'s and the
    gate's now: both front ends refuse with the same line, before any output."""
    out = tmp_path / "out.onnx"
    images = str(FMNIST / "t10k-images-idx3-ubyte.gz")
    labels = str(FMNIST / "t10k-labels-idx1-ubyte.gz")
    sweep_dir = tmp_path / "sweep"
    cases = [
        (dict(bits="auto", method="rtn"), ("--bits", "auto", "--method", "rtn")),
        (dict(latency_reps=5), ("--latency-reps", 5)),
        (dict(latency_batch=4), ("--latency-batch", 4)),
        (dict(data=images), ("--data", images)),
        (dict(labels=labels), ("--labels", labels)),
        (dict(count=100), ("--count", 100)),
        (dict(max_drop=1), ("--max-drop", 1)),
        (dict(max_drop=-1, data=images), ("--max-drop", -1, "--data", images)),
        (dict(max_drop=1, data=images, dry_run=True), ("--max-drop", 1, "--data", images, "--dry-run")),
        (dict(class_axis=5), ("--class-axis", 5)),
        (dict(mask_threshold=float("nan")), ("--mask-threshold", "nan")),
        (dict(sensitivity=True, method="rtn"), ("--sensitivity", "--method", "rtn")),
        (dict(target_size="lots"), ("--target-size", "lots")),
        (dict(target_drop=1), ("--target-drop", 1)),
        (dict(target_drop=1, target_ratio=4, data=images), ("--target-drop", 1, "--target-ratio", 4, "--data", images)),
        (dict(target_drop=1, max_drop=1, data=images), ("--target-drop", 1, "--max-drop", 1, "--data", images)),
    ]
    for options, flags in cases:
        message = error_of(lambda: qcp.compress(RESNET, str(out), **options))
        assert message == cli_error("compress", RESNET, "-o", out, *flags), options
        assert not out.exists(), options
    # eval's --min-top1
    for options, flags in [(dict(min_top1=50), ("--min-top1", 50)),
                           (dict(min_top1=150, labels=labels), ("--min-top1", 150, "--labels", labels))]:
        assert error_of(lambda: qcp.evaluate(MLP, data=images, **options)) == cli_error("eval", MLP, "--data", images, *flags)
    # sweep: no model, no data, a fidelity option the model's outputs rule out, a method not swept
    for model, options, flags in [(None, dict(data=images), ("--data", images)),
                                  (MLP, dict(), ()),
                                  (MLP, dict(data=images, class_axis=5), ("--data", images, "--class-axis", 5)),
                                  (MLP, dict(data=images, methods="mixed"), ("--data", images, "--methods", "mixed"))]:
        message = error_of(lambda: qcp.sweep(model, out=str(sweep_dir), **options))
        assert message == cli_error("sweep", *((model,) if model else ()), "--out", sweep_dir, *flags), options
        assert not sweep_dir.exists(), options


def test_min_top1_gate_and_budget_keywords(tmp_path):
    images, labels = idx_images("t10k-images-idx3-ubyte.gz", 200), idx_labels("t10k-labels-idx1-ubyte.gz", 200)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    for a in (50, 99.9):  # passed, failed: the report says so (the CLI's exit 0 / 1)
        got = qcp.evaluate(MLP, data=images, labels=labels, min_top1=a)
        code, out, _ = cli("eval", MLP, "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--min-top1", a, "--json")
        assert untimed(got) == untimed(json.loads(out)) and code == (0 if got["gate"]["passed"] else 1)
        assert got["gate"]["passed"] == (a == 50)
    # target_size as a SIZE text, the CLI's spelling
    plan = qcp.compress(MLP, dry_run=True, method="rtn", bits="auto", target_size="300K")
    assert untimed(plan) == untimed(cli_json("compress", MLP, "--dry-run", "--method", "rtn", "--bits", "auto",
                                             "--target-size", "300K"))
    assert plan["budget"]["target"] == "size"


# CLI flags with no keyword of their own: --help, --json (the return value is the report), and for
# compress --report FILE (json.dump the returned dict); -o/--output is the second positional argument.
# A --no-X flag is X=False, --asymmetric symmetric=False.
LEFT_OUT = {"help", "json", "report"}
POSITIONAL = {"compress": {"output"}, "convert": {"output"}}
NEGATIONS = {"asymmetric": "symmetric"}


def cli_keywords(command):
    """The keywords `qcp COMMAND --help` lists, as the module names them."""
    code, out, err = cli(command, "--help")
    assert code == 0, err
    names = set()
    for flag in re.findall(r"^\s+(?:-\w,)?--([a-z0-9][a-z0-9-]*)", out, re.M):
        flag = NEGATIONS.get(flag, flag[3:] if flag.startswith("no-") else flag)
        names.add(flag.replace("-", "_"))
    return names - LEFT_OUT - POSITIONAL.get(command, set())


@pytest.mark.parametrize("command,function", [("compress", "compress"), ("eval", "evaluate"), ("compare", "compare"),
                                              ("sweep", "sweep"), ("convert", "convert"), ("inspect", "inspect")])
def test_every_cli_option_is_a_keyword(command, function):
    assert set(qcp._qcp._keywords(function)) == cli_keywords(command)
    assert callable(getattr(qcp, function)) and function in qcp.__all__
