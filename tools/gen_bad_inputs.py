#!/usr/bin/python3
"""Writes tests/bad_inputs/: hostile and broken models and datasets, one folder per case, and
cases.tsv, the manifest tests/cli/test_bad_inputs.cpp runs.

Every case must make qcp exit 2 with one line on stderr that contains the case's needle, write
nothing and change nothing. Manifest columns (tab-separated): case, qcp arguments, needle. In the
arguments {case} is the case folder (a scratch copy), {models} the repository's models/ folder.
A model case gets two lines: `inspect` and `compress --method rtn` with a report, so both the
loader and the writing command are shown to refuse it.

Deterministic (fixed seeds): re-running rewrites identical files. Run with Debian's python
(it has onnx and numpy): /usr/bin/python3 tools/gen_bad_inputs.py
"""
import gzip
import os
import shutil
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "bad_inputs")
MLP = "{models}/fmnist_mlp.onnx"
rng = np.random.default_rng(8)
manifest = []


def case_dir(name):
    path = os.path.join(OUT, name)
    os.makedirs(path, exist_ok=True)
    return path


def write(name, filename, data):
    with open(os.path.join(case_dir(name), filename), "wb") as f:
        f.write(data)


def add(name, args, needle):
    assert "\t" not in args and "\t" not in needle
    manifest.append((name, args, needle))


def model_case(name, data, needle, filename="model.onnx"):
    """A broken model: refused by inspect and by compress (which must write no output or report)."""
    if isinstance(data, onnx.ModelProto):
        data = data.SerializeToString()
    write(name, filename, data)
    add(name + ":inspect", "inspect {case}/" + filename, needle)
    add(name + ":compress", "compress {case}/" + filename + " -o {case}/out.onnx --method rtn --report {case}/report.json",
        needle)


# ---- models ------------------------------------------------------------------------------

def conv_model(weight=None, bias=None, opset=13, ir_version=8, extra_inits=(), nodes=None, outputs=None):
    """x (N, 1, 8, 8) -> Conv 3x3 (4 filters) -> Relu -> y: the smallest model with a layer."""
    w = weight if weight is not None else numpy_helper.from_array(
        rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    b = bias if bias is not None else numpy_helper.from_array(np.zeros(4, np.float32), "b")
    if nodes is None:
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        outputs if outputs is not None else [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])],
        [w, b, *extra_inits])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir_version
    return m


def external_weight(location, offset=0, length=None, dims=(4, 1, 3, 3), extra=()):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    count = int(np.prod(dims))
    entries = [("location", location), ("offset", str(offset)), ("length", str(4 * count if length is None else length)),
               *extra]
    for k, v in entries:
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def parses(data):
    try:
        onnx.ModelProto().ParseFromString(data)
        return True
    except Exception:  # protobuf's DecodeError
        return False


def model_cases():
    good = conv_model()
    onnx.checker.check_model(good)  # the base every broken variant starts from is valid

    model_case("empty_file", b"", "file is empty")
    model_case("random_bytes", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not a valid ONNX model")
    wide = conv_model(weight=numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w"),
                      extra_inits=[numpy_helper.from_array(rng.standard_normal((64, 64)).astype(np.float32), "unused")])
    whole = wide.SerializeToString()
    for pct in (0, 10, 50, 99):
        cut = max(1, len(whole) * pct // 100)
        while parses(whole[:cut]):  # a cut on a field boundary parses: move into the next field
            cut += 1
        model_case(f"truncated_{pct}pct", whole[:cut], "not a valid ONNX model")
    # another program's protobuf: field 100 (varint 1), field 101 (string) — parses, holds no model
    other = bytes([0xA0, 0x06, 0x01, 0xAA, 0x06, 11]) + b"not a model"
    assert parses(other)
    model_case("protobuf_not_a_model", other, "not an ONNX model (no graph or IR version)")
    no_graph = onnx.ModelProto(ir_version=8, opset_import=[helper.make_opsetid("", 13)])
    model_case("model_without_graph", no_graph, "not an ONNX model (no graph or IR version)")

    missing = conv_model()
    missing.graph.node[1].input[0] = "ghost"
    model_case("missing_value", missing, "'ghost' is not produced")
    cycle = conv_model()
    cycle.graph.node[0].input[0] = "y"
    model_case("cycle", cycle, "cycle")
    dup = conv_model()
    dup.graph.node[1].output[0] = "c"
    model_case("duplicate_value", dup, "defined more than once")
    model_case("duplicate_initializer",
               conv_model(extra_inits=[numpy_helper.from_array(np.zeros(4, np.float32), "b")]),
               "initializer 'b' is defined more than once")
    no_out = conv_model(outputs=[])
    model_case("no_outputs", no_out, "graph has no outputs")
    no_op = conv_model()
    no_op.graph.node[1].op_type = ""
    model_case("empty_op_type", no_op, "has no op_type")

    raw = numpy_helper.from_array(np.zeros((4, 1, 3, 3), np.float32), "w")
    raw.raw_data = raw.raw_data[:-4]
    model_case("raw_size_mismatch", conv_model(weight=raw), "has 140 bytes of data")
    typed = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 1, 3, 3], float_data=[0.5] * 35)
    model_case("typed_size_mismatch", conv_model(weight=typed), "has 35 values, its shape needs 36")
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20, 1, 1], raw_data=b"\0" * 16)
    model_case("dims_4tib_raw", conv_model(weight=huge), "need 4398046511104")
    model_case("dims_overflow", conv_model(weight=TensorProto(name="w", data_type=TensorProto.FLOAT,
                                                              dims=[1 << 40, 1 << 40, 1, 1])),
               "has too many elements")
    model_case("dims_negative", conv_model(weight=TensorProto(name="w", data_type=TensorProto.FLOAT,
                                                              dims=[4, -1, 3, 3], raw_data=b"\0" * 144)),
               "negative dimension")
    unknown = numpy_helper.from_array(np.zeros((4, 1, 3, 3), np.float32), "w")
    unknown.data_type = 99
    model_case("dtype_unknown", conv_model(weight=unknown), "unknown data type 99")
    strings = helper.make_tensor("s", TensorProto.STRING, [1], [b"x"])
    model_case("dtype_string", conv_model(extra_inits=[strings]), "string tensors are not supported")

    # external data: every way a location can be wrong
    ext_bytes = rng.standard_normal(36).astype(np.float32).tobytes()
    for name, location, needle in [("external_dotdot", "../outside.bin", "escapes the model's folder"),
                                   ("external_absolute", "/etc/passwd", "is absolute"),
                                   ("external_missing", "nothere.bin", "'nothere.bin' not found")]:
        write(name, "weights.bin", ext_bytes)
        model_case(name, conv_model(weight=external_weight(location)), needle)
    write("external_short", "weights.bin", ext_bytes[:100])
    model_case("external_short", conv_model(weight=external_weight("weights.bin")), "is too short")
    write("external_offset_past_end", "weights.bin", ext_bytes)
    model_case("external_offset_past_end", conv_model(weight=external_weight("weights.bin", offset=1 << 40)),
               "is too short")
    write("external_4tib", "weights.bin", ext_bytes)
    model_case("external_4tib", conv_model(weight=external_weight("weights.bin", dims=(1 << 20, 1 << 20, 1, 1))),
               "is too short")
    write("external_length_mismatch", "weights.bin", ext_bytes)
    model_case("external_length_mismatch", conv_model(weight=external_weight("weights.bin", length=100)),
               "does not match its shape")
    write("external_bad_offset", "weights.bin", ext_bytes)
    bad_offset = external_weight("weights.bin")
    bad_offset.external_data[1].value = "twelve"
    model_case("external_bad_offset", conv_model(weight=bad_offset), "is not a number")

    nan_w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    nan_w[2, 0, 1, 1] = np.nan
    model_case("weight_nan", conv_model(weight=numpy_helper.from_array(nan_w, "w")), "1 NaN or infinite value")
    inf_b = np.zeros(4, np.float32)
    inf_b[1] = np.inf
    inf_b[3] = -np.inf
    model_case("bias_inf", conv_model(bias=numpy_helper.from_array(inf_b, "b")), "bias 'b' has 2 NaN or infinite")
    model_case("weight_zero_size",
               conv_model(weight=numpy_helper.from_array(np.zeros((0, 1, 3, 3), np.float32), "w"),
                          bias=numpy_helper.from_array(np.zeros(0, np.float32), "b")),
               "weight 'w' is empty")
    write("device_as_model", "about.txt", b"This case reads /dev/zero: qcp must refuse it, not read forever.\n")
    add("device_as_model:inspect", "inspect /dev/zero", "is not a regular file")
    add("device_as_model:compress", "compress /dev/zero -o {case}/out.onnx --method rtn", "is not a regular file")
    model_case("opset_1", conv_model(opset=1), "unsupported opset 1 ")
    model_case("opset_99", conv_model(opset=99), "unsupported opset 99")
    model_case("ir_version_99", conv_model(ir_version=99), "unsupported ONNX IR version 99")


def huge_tensor_cases():
    """Valid models that ask the engine for more memory than allowed: caught by the memory budget."""
    def model(shape):
        shape_t = numpy_helper.from_array(np.array(shape, np.int64), "shape")
        nodes = [helper.make_node("ConstantOfShape", ["shape"], ["y"], name="fill")]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [shape_t])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        return m.SerializeToString()
    images = idx(8, [4, 28, 28], rng.integers(0, 256, 4 * 28 * 28, dtype=np.uint8).tobytes())
    write("run_allocates_4pib", "model.onnx", model([1 << 20, 1 << 20, 1 << 10]))
    write("run_allocates_4pib", "images.idx", images)
    add("run_allocates_4pib", "eval {case}/model.onnx --data {case}/images.idx", "out of memory budget")
    write("run_over_max_memory", "model.onnx", model([64, 1024, 1024]))  # 256 MiB
    write("run_over_max_memory", "images.idx", images)
    add("run_over_max_memory", "--max-memory 64M eval {case}/model.onnx --data {case}/images.idx",
        "limit 64.0 MiB: --max-memory")
    write("max_memory_bad_value", "images.idx", images)
    add("max_memory_bad_value", "--max-memory lots eval " + MLP + " --data {case}/images.idx", "--max-memory 'lots'")


# ---- datasets ----------------------------------------------------------------------------

def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def npy(header_dict, payload=b"", version=1, header_len=None):
    body = header_dict.encode("latin1")
    body += b" " * ((64 - (10 + len(body) + 1) % 64) % 64) + b"\n"
    n = len(body) if header_len is None else header_len
    head = b"\x93NUMPY" + bytes([version, 0]) + (struct.pack("<H", n) if version == 1 else struct.pack("<I", n))
    return head + body + payload


def data_case(name, files, needle, labels=None, model=MLP, command="eval"):
    for filename, data in files.items():
        write(name, filename, data)
    data_file = next(iter(files))
    args = f"{command} {model} --data {{case}}/{data_file}" if command == "eval" else \
        f"compress {model} -o {{case}}/out.onnx --method rtn --calib {{case}}/{data_file}"
    if labels:
        args += " --labels {case}/" + labels
    add(name, args, needle)


def dataset_cases():
    pixels = rng.integers(0, 256, 10 * 28 * 28, dtype=np.uint8).tobytes()
    good = idx(8, [10, 28, 28], pixels)
    data_case("idx_wrong_magic", {"images.idx": b"\x00\x00\x09\x99" + good[4:]}, "unrecognised data format")
    data_case("idx_labels_as_images", {"images.idx": idx(8, [10], bytes(10))}, "is an IDX labels file")
    data_case("idx_truncated_header", {"images.idx": good[:10]}, "file ends early: IDX header")
    data_case("idx_truncated_data", {"images.idx": idx(8, [100, 28, 28], pixels)}, "truncated: IDX header says")
    data_case("idx_absurd_dims", {"images.idx": idx(8, [0xFFFFFFFF] * 3, b"")}, "absurd dims")
    data_case("idx_no_samples_huge_images", {"images.idx": idx(8, [0, 0xEFFF0000, 0xEFFF4300], b"")},
              "holds no samples")
    gz = gzip.compress(idx(8, [100, 28, 28], rng.integers(0, 256, 100 * 28 * 28, dtype=np.uint8).tobytes()), mtime=0)
    data_case("idx_gzip_truncated", {"images.idx.gz": gz[:len(gz) // 2]}, "truncated gzip stream")
    data_case("data_random_bytes", {"data.bin": rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()},
              "unrecognised data format")
    data_case("data_empty_file", {"data.bin": b""}, "unrecognised data format")
    write("device_as_data", "about.txt", b"This case reads /dev/zero: qcp must refuse it, not read forever.\n")
    add("device_as_data", "eval " + MLP + " --data /dev/zero", "is not a regular file")
    add("device_as_labels", "eval " + MLP + " --data {case}/images.idx --labels /dev/zero", "is not a regular file")
    write("device_as_labels", "images.idx", good)
    data_case("npy_bad_version", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 28, 28), }",
                                               bytes(3136), version=9)}, "unsupported .npy format version 9")
    data_case("npy_no_descr", {"x.npy": npy("{'fortran_order': False, 'shape': (1, 28, 28), }", bytes(3136))},
              ".npy header has no descr")
    data_case("npy_complex_dtype", {"x.npy": npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1, 28, 28), }",
                                                 bytes(6272))}, "unsupported .npy dtype '<c8'")
    data_case("npy_header_past_end", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 28, 28), }",
                                                   header_len=5000)}, "truncated .npy header")
    data_case("npy_fortran_order", {"x.npy": npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 28, 28), }",
                                                 bytes(3136))}, "Fortran-order")
    data_case("npy_truncated_data", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100, 28, 28), }",
                                                  bytes(3136 * 10))}, "truncated: .npy header says")
    data_case("npy_4tib_shape", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 28, 28), }",
                                              bytes(3136))}, "truncated: .npy header says")
    data_case("npy_no_samples_huge_shape",
              {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4026466304, 4026483456), }")},
              "holds no samples")
    data_case("npy_negative_dim", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 28, 28), }",
                                                bytes(3136))}, "negative dimension in .npy shape")
    data_case("labels_count_mismatch", {"images.idx": good, "labels.idx": idx(8, [12], bytes(12))},
              "10 samples but 12 labels", labels="labels.idx")
    data_case("labels_text_garbage", {"images.idx": good, "labels.txt": b"1\n2\nthree\n"},
              "line 3: 'three' is not an integer label", labels="labels.txt")
    data_case("labels_npy_float", {"images.idx": good,
                                   "labels.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }",
                                                     bytes(40))}, "for labels (expected integers)", labels="labels.npy")
    data_case("labels_idx_truncated", {"images.idx": good, "labels.idx": idx(8, [10], bytes(4))},
              "truncated: IDX header says (10)", labels="labels.idx")
    small = idx(8, [10, 32, 32], rng.integers(0, 256, 10 * 32 * 32, dtype=np.uint8).tobytes())
    data_case("image_size_mismatch", {"images.idx": small}, "(1, 32, 32) but the model input is (?, 1, 28, 28)")
    data_case("calib_size_mismatch", {"images.idx": small}, "but the model input is (?, 1, 28, 28)", command="compress")
    data_case("calib_truncated", {"images.idx": idx(8, [100, 28, 28], pixels)}, "truncated: IDX header says",
              command="compress")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    model_cases()
    huge_tensor_cases()
    dataset_cases()
    with open(os.path.join(OUT, "cases.tsv"), "w") as f:
        f.write("# Written by tools/gen_bad_inputs.py; run by tests/cli/test_bad_inputs.cpp.\n")
        f.write("# case\tqcp arguments ({case}: the case folder, {models}: models/)\tneedle in the one-line error\n")
        for row in manifest:
            f.write("\t".join(row) + "\n")
    cases = {name.split(":")[0] for name, _, _ in manifest}
    print(f"{len(cases)} cases, {len(manifest)} runs in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
