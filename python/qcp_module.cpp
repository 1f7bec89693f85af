// _qcp: the Python extension behind `import qcp` (python/qcp/__init__.py wraps it). Each function
// (compress, inspect, evaluate, compare, sweep, convert) fills the library's options struct from
// keyword arguments named as the CLI's flags (dashes as underscores), calls the library with the GIL
// released, and returns the --json report as a dict. Every keyword has one row in its command's
// table; a name in no row is a TypeError naming it. Only Python types are checked here: the library
// validates the values and how they combine (the same one-line messages as the CLI); qcp::Error and
// any other library exception become qcp.Error.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/core/version.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/data/inputs.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/convert.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/gate.hpp"
#include "qcp/pipeline/target_drop.hpp"
#include "qcp/pipeline/inspect.hpp"
#include "qcp/pipeline/sweep.hpp"

namespace py = pybind11;
namespace stdfs = std::filesystem;

namespace {

// JSON (as the reports are built) to Python objects; object key order is kept.
py::object to_python(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return py::none();
        case nlohmann::ordered_json::value_t::boolean: return py::bool_(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return py::int_(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: return py::int_(j.get<uint64_t>());
        case nlohmann::ordered_json::value_t::number_float: return py::float_(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return py::str(j.get_ref<const std::string&>());
        case nlohmann::ordered_json::value_t::array: {
            py::list list;
            for (const auto& v : j) list.append(to_python(v));
            return std::move(list);
        }
        case nlohmann::ordered_json::value_t::object: {
            py::dict dict;
            for (const auto& [key, v] : j.items()) dict[py::str(key)] = to_python(v);
            return std::move(dict);
        }
        default: throw qcp::Error("report holds a value JSON cannot show");
    }
}

// Runs `fn` (library work only: no Python objects) without the GIL and returns its report; every
// library exception leaves as qcp::Error (the CLI prints them all as "qcp: error: ..."), except
// out of memory (MemoryError).
template <class Fn>
nlohmann::ordered_json call_library(Fn&& fn) {
    py::gil_scoped_release release;
    try {
        return fn();
    } catch (const qcp::Error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        throw qcp::Error(e.what());
    }
}

// ---- keyword values: each converter names the keyword when the Python type is wrong ----

// The CLI flag a keyword stands for, without the dashes: rank_ratio -> rank-ratio.
std::string cli_flag(std::string kw) {
    std::replace(kw.begin(), kw.end(), '_', '-');
    return kw;
}

[[noreturn]] void wrong_type(const std::string& kw, const char* expected, py::handle h) {
    throw py::type_error(kw + "= must be " + expected + ", got " + std::string(py::str(py::type::of(h).attr("__name__"))));
}

template <class T>
T as(const std::string& kw, py::handle h, const char* expected) {
    // bool is an int in Python; a flag given to a number (or a number to a flag) is a mistake
    if (std::is_same_v<T, bool> != py::isinstance<py::bool_>(h)) wrong_type(kw, expected, h);
    if constexpr (std::is_floating_point_v<T>) {
        if (!py::isinstance<py::float_>(h) && !py::isinstance<py::int_>(h)) wrong_type(kw, expected, h);
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        if (!py::isinstance<py::int_>(h)) wrong_type(kw, expected, h);
    }
    try {
        return h.cast<T>();
    } catch (const py::cast_error&) {
        wrong_type(kw, expected, h);
    }
}
int64_t as_int(const std::string& kw, py::handle h) { return as<int64_t>(kw, h, "an int"); }
double as_float(const std::string& kw, py::handle h) { return as<double>(kw, h, "a number"); }
bool as_bool(const std::string& kw, py::handle h) { return as<bool>(kw, h, "True or False"); }
std::string as_str(const std::string& kw, py::handle h) {
    if (!py::isinstance<py::str>(h)) wrong_type(kw, "a str", h);
    return h.cast<std::string>();
}
stdfs::path as_path(const std::string& kw, py::handle h) {
    if (!py::isinstance<py::str>(h) && !py::hasattr(h, "__fspath__")) wrong_type(kw, "a path (str or os.PathLike)", h);
    return h.cast<stdfs::path>();
}
// A str, or a list/tuple of str (repeatable CLI flags).
std::vector<std::string> as_strs(const std::string& kw, py::handle h) {
    if (py::isinstance<py::str>(h) || py::hasattr(h, "__fspath__")) return {as_path(kw, h).string()};
    if (!py::isinstance<py::list>(h) && !py::isinstance<py::tuple>(h)) wrong_type(kw, "a str or a list of str", h);
    std::vector<std::string> out;
    for (py::handle item : h) out.push_back(as_path(kw, item).string());
    return out;
}
// A list of numbers, or the CLI's text ("0.485,0.456,0.406").
std::vector<float> as_floats(const std::string& kw, py::handle h) {
    if (py::isinstance<py::str>(h)) return qcp::data::parse_floats(h.cast<std::string>());
    if (py::isinstance<py::float_>(h) || py::isinstance<py::int_>(h)) return {static_cast<float>(as_float(kw, h))};
    if (!py::isinstance<py::list>(h) && !py::isinstance<py::tuple>(h)) wrong_type(kw, "a number, a list of numbers or a str", h);
    std::vector<float> out;
    for (py::handle item : h) out.push_back(static_cast<float>(as_float(kw, item)));
    return out;
}
// A comma-separated list option of sweep (--methods, --bits, --rank-ratios, --centroids): a list or
// tuple, one value, or the CLI's text ("3,4,8"), each item parsed as the CLI parses it.
template <class T>
std::vector<T> as_list(const std::string& kw, py::handle h, const char* expected) {
    std::vector<T> out;
    const auto item = [&](py::handle v) {
        if constexpr (std::is_same_v<T, std::string>) {
            out.push_back(as_str(kw, v));
        } else if (py::isinstance<py::str>(v)) {
            std::istringstream in(v.cast<std::string>());
            T x{};
            in >> x;
            if (!in || !in.eof()) throw qcp::Error("--" + cli_flag(kw) + ": '" + v.cast<std::string>() + "' is not a number");
            out.push_back(x);
        } else {
            out.push_back(as<T>(kw, v, expected));
        }
    };
    if (py::isinstance<py::str>(h)) {
        std::stringstream text(h.cast<std::string>());
        std::string part;
        while (std::getline(text, part, ',')) item(py::str(part));
    } else if (py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h)) {
        for (py::handle v : h) item(v);
    } else {
        item(h);
    }
    return out;
}
// A dict {name: value} or the CLI's texts ("NAME=...", one or a list) as "NAME=..." texts, so
// that the library's parsers check them (parse_input_shape, parse_input_value).
std::vector<std::string> as_named_texts(const std::string& kw, py::handle h) {
    if (!py::isinstance<py::dict>(h)) return as_strs(kw, h);
    std::vector<std::string> out;
    for (auto [name, value] : h.cast<py::dict>()) {
        std::string text = as_str(kw, name) + "=";
        if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
            std::string dims;
            for (py::handle d : value) dims += (dims.empty() ? "" : ",") + std::to_string(as_int(kw, d));
            text += dims;
        } else if (py::isinstance<py::str>(value)) {
            text += value.cast<std::string>();
        } else {
            text += std::string(py::str(value));  // a number: repr as Python writes it
        }
        out.push_back(text);
    }
    return out;
}

// ---- keyword tables ----

template <class State>
using Keywords = std::map<std::string, std::function<void(State&, const std::string&, py::handle)>>;

template <class State>
void apply_keywords(const char* function, const Keywords<State>& table, State& st, const py::kwargs& kwargs) {
    for (const auto& item : kwargs) {
        const std::string name = py::str(item.first);
        const py::handle value = item.second;
        const auto it = table.find(name);
        if (it == table.end()) throw py::type_error(std::string(function) + "() got an unexpected keyword argument '" + name + "'");
        if (value.is_none()) continue;  // None: the default, as when the flag is not given
        it->second(st, name, value);
    }
}

// --size, --mean, --std, --layout, --data-layout, --channels, --channel-order, --resize, --pad and
// --threads: every command that runs models (convert: these only).
template <class State>
void add_image_keywords(Keywords<State>& t) {
    namespace data = qcp::data;
    t["threads"] = [](State& s, const std::string& k, py::handle v) { s.opts.threads = static_cast<int>(as_int(k, v)); };
    t["size"] = [](State& s, const std::string& k, py::handle v) {
        if (py::isinstance<py::tuple>(v) || py::isinstance<py::list>(v)) {
            const auto hw = v.cast<py::sequence>();
            if (hw.size() != 2) wrong_type(k, "(height, width) or 'HxW'", v);
            data::parse_size(std::to_string(as_int(k, py::object(hw[0]))) + "x" + std::to_string(as_int(k, py::object(hw[1]))),
                             s.opts.image.height, s.opts.image.width);
        } else {
            data::parse_size(py::isinstance<py::int_>(v) ? std::to_string(as_int(k, v)) : as_str(k, v), s.opts.image.height,
                             s.opts.image.width);
        }
    };
    t["mean"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.mean = as_floats(k, v); };
    t["std"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.std = as_floats(k, v); };
    t["layout"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.layout = data::parse_layout(as_str(k, v)); };
    t["data_layout"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.data_layout = data::parse_layout(as_str(k, v)); };
    t["channels"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.channels = as_int(k, v); };
    t["channel_order"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.bgr = data::parse_channel_order(as_str(k, v)); };
    t["resize"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.fit = data::parse_resize_mode(as_str(k, v)); };
    t["pad"] = [](State& s, const std::string& k, py::handle v) { s.opts.image.pad = static_cast<float>(as_float(k, v)); };
}

// The image keywords and --batch, --input-shape, --input-value: compress, eval, compare, sweep.
template <class State>
void add_run_keywords(Keywords<State>& t) {
    namespace data = qcp::data;
    add_image_keywords(t);
    t["batch"] = [](State& s, const std::string& k, py::handle v) { s.opts.batch = as_int(k, v); };
    t["input_shape"] = [](State& s, const std::string& k, py::handle v) {
        for (const auto& text : as_named_texts(k, v)) s.opts.input_shapes.push_back(data::parse_input_shape(text));
    };
    t["input_value"] = [](State& s, const std::string& k, py::handle v) {
        for (const auto& text : as_named_texts(k, v)) s.opts.input_values.push_back(data::parse_input_value(text));
    };
}

// --class-axis, --mask-threshold, --ctc-blank (the library checks them: validate_fidelity_options).
template <class State>
void add_fidelity_keywords(Keywords<State>& t) {
    t["class_axis"] = [](State& s, const std::string& k, py::handle v) { s.opts.fidelity.class_axis = as_int(k, v); };
    t["mask_threshold"] = [](State& s, const std::string& k, py::handle v) { s.opts.fidelity.mask_threshold = as_float(k, v); };
    t["ctc_blank"] = [](State& s, const std::string& k, py::handle v) { s.opts.fidelity.ctc_blank = as_int(k, v); };
}

struct CompressState {
    qcp::CompressOptions opts;
    qcp::GateOptions gate;  // max_drop, data, labels, count
    bool max_drop = false;  // max_drop given
    qcp::DropSearchOptions drop;  // target_drop, target_drop_tries
    bool target_drop = false, target_drop_tries = false;  // given
};

const Keywords<CompressState>& compress_keywords() {
    static const Keywords<CompressState> table = [] {
        using S = CompressState;
        using qcp::decomp::Granularity;
        using qcp::rewrite::WeightFormat;
        Keywords<S> t;
        t["method"] = [](S& s, const std::string& k, py::handle v) { s.opts.method = as_str(k, v); };
        t["rank"] = [](S& s, const std::string& k, py::handle v) { s.opts.rank = static_cast<int>(as_int(k, v)); };
        t["rank_ratio"] = [](S& s, const std::string& k, py::handle v) { s.opts.rank_ratio = as_float(k, v); };
        t["rank_align"] = [](S& s, const std::string& k, py::handle v) { s.opts.rank_align = static_cast<int>(as_int(k, v)); };
        t["bits"] = [](S& s, const std::string& k, py::handle v) {
            if (py::isinstance<py::str>(v) && v.cast<std::string>() == "auto") {
                s.opts.bits_auto = true;
                return;
            }
            if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) wrong_type(k, "an int from 2 to 8 or 'auto'", v);
            s.opts.bits = static_cast<int>(as_int(k, v));
        };
        t["target_ratio"] = [](S& s, const std::string& k, py::handle v) { s.opts.target_ratio = as_float(k, v); };
        t["target_size"] = [](S& s, const std::string& k, py::handle v) {  // bytes, or a SIZE text as the CLI's ("5M")
            if (py::isinstance<py::str>(v)) {
                s.opts.target_size = qcp::memory::parse_size(v.cast<std::string>(), "--target-size");
                return;
            }
            const int64_t n = as_int(k, v);
            if (n < 0) throw qcp::Error("--target-size must be positive");
            s.opts.target_size = static_cast<uint64_t>(n);
        };
        t["sensitivity"] = [](S& s, const std::string& k, py::handle v) { s.opts.sensitivity = as_bool(k, v); };
        t["target_macs"] = [](S& s, const std::string& k, py::handle v) { s.opts.target_macs = as_float(k, v); };
        t["cache"] = [](S& s, const std::string& k, py::handle v) { s.opts.cache = as_path(k, v); };
        t["granularity"] = [](S& s, const std::string& k, py::handle v) {
            const std::string g = as_str(k, v);
            if (g != "tensor" && g != "channel") throw qcp::Error("--granularity must be tensor or channel");
            s.opts.granularity = g == "tensor" ? Granularity::Tensor : Granularity::Channel;
        };
        t["symmetric"] = [](S& s, const std::string& k, py::handle v) { s.opts.symmetric = as_bool(k, v); };
        t["block_size"] = [](S& s, const std::string& k, py::handle v) { s.opts.block_size = as_int(k, v); };
        t["damp"] = [](S& s, const std::string& k, py::handle v) { s.opts.damp = as_float(k, v); };
        t["act_order"] = [](S& s, const std::string& k, py::handle v) { s.opts.act_order = as_bool(k, v); };
        t["centroids"] = [](S& s, const std::string& k, py::handle v) { s.opts.centroids = as_int(k, v); };
        t["pq_block"] = [](S& s, const std::string& k, py::handle v) { s.opts.pq_block = as_int(k, v); };
        t["pq_iters"] = [](S& s, const std::string& k, py::handle v) { s.opts.pq_iters = static_cast<int>(as_int(k, v)); };
        t["pq_metric"] = [](S& s, const std::string& k, py::handle v) { s.opts.pq_metric = as_bool(k, v); };
        t["pq_refit"] = [](S& s, const std::string& k, py::handle v) { s.opts.pq_refit = as_bool(k, v); };
        t["calib"] = [](S& s, const std::string& k, py::handle v) { s.opts.calib = qcp::data::Sources{as_strs(k, v)}; };
        t["calib_count"] = [](S& s, const std::string& k, py::handle v) { s.opts.calib_count = as_int(k, v); };
        t["objective"] = [](S& s, const std::string& k, py::handle v) { s.opts.objective = as_str(k, v); };
        t["correct"] = [](S& s, const std::string& k, py::handle v) { s.opts.correct = as_bool(k, v); };
        t["layer"] = [](S& s, const std::string& k, py::handle v) { s.opts.layer_rules = as_strs(k, v); };
        t["exclude"] = [](S& s, const std::string& k, py::handle v) { s.opts.excludes = as_strs(k, v); };
        t["format"] = [](S& s, const std::string& k, py::handle v) {
            static const std::map<std::string, std::optional<WeightFormat>> formats = {
                {"auto", std::nullopt}, {"packed", WeightFormat::Packed}, {"qdq", WeightFormat::Qdq}, {"float", WeightFormat::Float}};
            const auto it = formats.find(as_str(k, v));
            if (it == formats.end()) throw qcp::Error("--format must be auto, packed, qdq or float");
            s.opts.format = it->second;
        };
        t["activations"] = [](S& s, const std::string& k, py::handle v) {
            if (py::isinstance<py::str>(v) && v.cast<std::string>() == "none") return;
            if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) wrong_type(k, "8 or 'none'", v);
            s.opts.activations = static_cast<int>(as_int(k, v));  // the library refuses anything but 8
        };
        t["act_calib"] = [](S& s, const std::string& k, py::handle v) { s.opts.act_calib = as_str(k, v); };
        t["act_percentile"] = [](S& s, const std::string& k, py::handle v) { s.opts.act_percentile = as_float(k, v); };
        t["external_data"] = [](S& s, const std::string& k, py::handle v) { s.opts.external_data = as_bool(k, v); };
        t["seed"] = [](S& s, const std::string& k, py::handle v) {
            const int64_t seed = as_int(k, v);
            if (seed < 0) throw qcp::Error("--seed must be non-negative");
            s.opts.seed = static_cast<uint64_t>(seed);
        };
        t["opset"] = [](S& s, const std::string& k, py::handle v) { s.opts.opset = as_int(k, v); };
        t["measure_latency"] = [](S& s, const std::string& k, py::handle v) { s.opts.measure_latency = as_bool(k, v); };
        t["latency_reps"] = [](S& s, const std::string& k, py::handle v) { s.opts.latency_reps = static_cast<int>(as_int(k, v)); };
        t["latency_batch"] = [](S& s, const std::string& k, py::handle v) { s.opts.latency_batch = as_int(k, v); };
        t["dry_run"] = [](S& s, const std::string& k, py::handle v) { s.opts.dry_run = as_bool(k, v); };
        t["force"] = [](S& s, const std::string& k, py::handle v) { s.opts.force = as_bool(k, v); };
        // the accuracy gate (qcp/pipeline/gate.hpp)
        t["max_drop"] = [](S& s, const std::string& k, py::handle v) {
            s.gate.max_drop = as_float(k, v);
            s.max_drop = true;
        };
        t["target_drop"] = [](S& s, const std::string& k, py::handle v) {
            s.drop.target_drop = as_float(k, v);
            s.target_drop = true;
        };
        t["target_drop_tries"] = [](S& s, const std::string& k, py::handle v) {
            s.drop.max_tries = static_cast<int>(as_int(k, v));
            s.target_drop_tries = true;
        };
        t["data"] = [](S& s, const std::string& k, py::handle v) { s.gate.data = qcp::data::Sources{as_strs(k, v)}; };
        t["labels"] = [](S& s, const std::string& k, py::handle v) { s.gate.labels = as_path(k, v); };
        t["count"] = [](S& s, const std::string& k, py::handle v) { s.gate.count = as_int(k, v); };
        add_run_keywords(t);
        add_fidelity_keywords(t);
        return t;
    }();
    return table;
}

py::object py_compress(const stdfs::path& model, const std::optional<stdfs::path>& output, const py::kwargs& kwargs) {
    CompressState st;
    st.opts.model = model;
    if (output) st.opts.output = *output;
    apply_keywords("compress", compress_keywords(), st, kwargs);
    const qcp::CompressOptions& o = st.opts;
    // the library checks every value and combination (compress(), validate_gate_request), as for the CLI
    return to_python(call_library([&] {
        if (st.target_drop_tries && !st.target_drop) throw qcp::Error("--target-drop-tries is for --target-drop: give it too");
        std::optional<qcp::DropSearchOptions> search;
        if (st.target_drop) search = st.drop;
        return qcp::compress_gated(o, st.gate, st.max_drop, search).json;
    }));
}

struct EvalState {
    qcp::EvalOptions opts;
    std::optional<double> min_top1;
};

const Keywords<EvalState>& eval_keywords() {
    static const Keywords<EvalState> table = [] {
        using S = EvalState;
        Keywords<S> t;
        t["data"] = [](S& s, const std::string& k, py::handle v) { s.opts.data = qcp::data::Sources{as_strs(k, v)}; };
        t["labels"] = [](S& s, const std::string& k, py::handle v) { s.opts.labels = as_path(k, v); };
        t["ref"] = [](S& s, const std::string& k, py::handle v) { s.opts.ref = as_path(k, v); };
        t["count"] = [](S& s, const std::string& k, py::handle v) { s.opts.count = as_int(k, v); };
        t["dump_outputs"] = [](S& s, const std::string& k, py::handle v) { s.opts.dump_outputs = as_path(k, v); };
        t["force"] = [](S& s, const std::string& k, py::handle v) { s.opts.force = as_bool(k, v); };
        t["min_top1"] = [](S& s, const std::string& k, py::handle v) { s.min_top1 = as_float(k, v); };
        add_run_keywords(t);
        add_fidelity_keywords(t);
        return t;
    }();
    return table;
}

py::object py_evaluate(const stdfs::path& model, const py::kwargs& kwargs) {
    EvalState st;
    st.opts.model = model;
    apply_keywords("evaluate", eval_keywords(), st, kwargs);
    if (st.opts.data.empty()) throw py::type_error("evaluate() missing required keyword argument 'data'");
    return to_python(call_library([&] {
        if (st.min_top1) qcp::validate_min_top1(*st.min_top1, st.opts);
        const qcp::EvalReport r = qcp::evaluate(st.opts);
        auto json = qcp::eval_to_json(r);
        if (st.min_top1) json["gate"] = qcp::min_top1_gate(r, *st.min_top1);
        return json;
    }));
}

struct CompareState {
    qcp::CompareOptions opts;
};

const Keywords<CompareState>& compare_keywords() {
    static const Keywords<CompareState> table = [] {
        using S = CompareState;
        Keywords<S> t;
        t["data"] = [](S& s, const std::string& k, py::handle v) { s.opts.data = qcp::data::Sources{as_strs(k, v)}; };
        t["labels"] = [](S& s, const std::string& k, py::handle v) { s.opts.labels = as_path(k, v); };
        t["count"] = [](S& s, const std::string& k, py::handle v) { s.opts.count = as_int(k, v); };
        add_run_keywords(t);
        add_fidelity_keywords(t);
        return t;
    }();
    return table;
}

py::object py_compare(const stdfs::path& model_a, const stdfs::path& model_b, const py::kwargs& kwargs) {
    CompareState st;
    st.opts.model_a = model_a;
    st.opts.model_b = model_b;
    apply_keywords("compare", compare_keywords(), st, kwargs);
    if (st.opts.data.empty()) throw py::type_error("compare() missing required keyword argument 'data'");
    return to_python(call_library([&] { return qcp::compare_to_json(qcp::compare(st.opts)); }));
}

struct SweepState {
    qcp::SweepOptions opts;
    bool replot = false;
};

const Keywords<SweepState>& sweep_keywords() {
    static const Keywords<SweepState> table = [] {
        using S = SweepState;
        Keywords<S> t;
        t["data"] = [](S& s, const std::string& k, py::handle v) { s.opts.data = qcp::data::Sources{as_strs(k, v)}; };
        t["labels"] = [](S& s, const std::string& k, py::handle v) { s.opts.labels = as_path(k, v); };
        t["out"] = [](S& s, const std::string& k, py::handle v) { s.opts.out = as_path(k, v); };
        t["calib"] = [](S& s, const std::string& k, py::handle v) { s.opts.calib = qcp::data::Sources{as_strs(k, v)}; };
        t["calib_count"] = [](S& s, const std::string& k, py::handle v) { s.opts.calib_count = as_int(k, v); };
        t["count"] = [](S& s, const std::string& k, py::handle v) { s.opts.count = as_int(k, v); };
        t["methods"] = [](S& s, const std::string& k, py::handle v) { s.opts.methods = as_list<std::string>(k, v, "a str"); };
        t["bits"] = [](S& s, const std::string& k, py::handle v) { s.opts.bits = as_list<int>(k, v, "an int"); };
        t["rank_ratios"] = [](S& s, const std::string& k, py::handle v) { s.opts.rank_ratios = as_list<double>(k, v, "a number"); };
        t["centroids"] = [](S& s, const std::string& k, py::handle v) { s.opts.centroids = as_list<int64_t>(k, v, "an int"); };
        t["force"] = [](S& s, const std::string& k, py::handle v) { s.opts.force = as_bool(k, v); };
        t["replot"] = [](S& s, const std::string& k, py::handle v) { s.replot = as_bool(k, v); };
        t["seed"] = [](S& s, const std::string& k, py::handle v) {
            const int64_t seed = as_int(k, v);
            if (seed < 0) throw qcp::Error("--seed must be non-negative");
            s.opts.seed = static_cast<uint64_t>(seed);
        };
        add_run_keywords(t);
        add_fidelity_keywords(t);
        return t;
    }();
    return table;
}

// `qcp sweep MODEL --data ... --out DIR --json`, or `qcp sweep --replot --out DIR --json` with replot=True.
py::object py_sweep(const std::optional<stdfs::path>& model, const py::kwargs& kwargs) {
    SweepState st;
    if (model) st.opts.model = *model;
    apply_keywords("sweep", sweep_keywords(), st, kwargs);
    if (st.opts.out.empty()) throw py::type_error("sweep() missing required keyword argument 'out'");
    return to_python(call_library([&] {
        return qcp::sweep_to_json(st.replot ? qcp::sweep_replot(st.opts.out) : qcp::sweep(st.opts));
    }));
}

struct ConvertState {
    qcp::ConvertOptions opts;
    bool opset = false;
};

const Keywords<ConvertState>& convert_keywords() {
    static const Keywords<ConvertState> table = [] {
        using S = ConvertState;
        Keywords<S> t;
        t["opset"] = [](S& s, const std::string& k, py::handle v) {
            s.opts.opset = as_int(k, v);
            s.opset = true;
        };
        t["calib"] = [](S& s, const std::string& k, py::handle v) { s.opts.calib = as_path(k, v); };
        t["external_data"] = [](S& s, const std::string& k, py::handle v) { s.opts.external_data = as_bool(k, v); };
        t["force"] = [](S& s, const std::string& k, py::handle v) { s.opts.force = as_bool(k, v); };
        add_image_keywords(t);
        return t;
    }();
    return table;
}

py::object py_convert(const stdfs::path& model, const stdfs::path& output, const py::kwargs& kwargs) {
    ConvertState st;
    st.opts.model = model;
    st.opts.output = output;
    apply_keywords("convert", convert_keywords(), st, kwargs);
    if (!st.opset) throw py::type_error("convert() missing required keyword argument 'opset'");
    return to_python(call_library([&] { return qcp::convert_to_json(qcp::convert(st.opts)); }));
}

struct InspectState {
    qcp::InspectOptions opts;
};

const Keywords<InspectState>& inspect_keywords() {
    static const Keywords<InspectState> table = {
        {"input_shape", [](InspectState& s, const std::string& k, py::handle v) {
             for (const auto& text : as_named_texts(k, v)) s.opts.input_shapes.push_back(qcp::data::parse_input_shape(text));
         }}};
    return table;
}

py::object py_inspect(const stdfs::path& model, const py::kwargs& kwargs) {
    InspectState st;
    st.opts.model = model;
    apply_keywords("inspect", inspect_keywords(), st, kwargs);
    return to_python(call_library([&] { return qcp::inspect_to_json(qcp::inspect(st.opts)); }));
}

void set_log_level(const std::string& level) {
    using qcp::log::Verbosity;
    static const std::map<std::string, Verbosity> levels = {
        {"quiet", Verbosity::Quiet}, {"normal", Verbosity::Normal}, {"verbose", Verbosity::Verbose}};
    const auto it = levels.find(level);
    if (it == levels.end()) throw qcp::Error("log level must be quiet, normal or verbose, got '" + level + "'");
    qcp::log::init(it->second);
}

}  // namespace

PYBIND11_MODULE(_qcp, m) {
    m.doc() = "qcp's library: compress, inspect, evaluate, compare, sweep and convert ONNX models (see the qcp package)";
    m.attr("__version__") = qcp::kVersion;
    py::register_exception<qcp::Error>(m, "Error", PyExc_Exception);
    // the keywords each function takes (tests/python compares them with `qcp COMMAND --help`)
    m.def("_keywords", [](const std::string& function) {
        std::vector<std::string> names;
        const auto add = [&](const auto& table) {
            for (const auto& item : table) names.push_back(item.first);
        };
        if (function == "compress") add(compress_keywords());
        else if (function == "evaluate") add(eval_keywords());
        else if (function == "compare") add(compare_keywords());
        else if (function == "sweep") add(sweep_keywords());
        else if (function == "convert") add(convert_keywords());
        else if (function == "inspect") add(inspect_keywords());
        else throw qcp::Error("no function '" + function + "'");
        return names;
    });
    qcp::log::init(qcp::log::Verbosity::Quiet);  // warnings and errors only, until set_log_level
    m.def("compress", &py_compress, py::arg("model"), py::arg("output") = py::none());
    m.def("inspect", &py_inspect, py::arg("model"));
    m.def("evaluate", &py_evaluate, py::arg("model"));
    m.def("compare", &py_compare, py::arg("model_a"), py::arg("model_b"));
    m.def("sweep", &py_sweep, py::arg("model") = py::none());
    m.def("convert", &py_convert, py::arg("model"), py::arg("output"));
    m.def("set_log_level", &set_log_level, py::arg("level"),
          "Log lines on stderr: 'quiet' (warnings and errors, the default), 'normal' (what the CLI shows) or 'verbose'");
    m.def("set_max_memory", [](const std::string& size) { qcp::memory::set_limit(qcp::memory::parse_size(size, "--max-memory")); },
          py::arg("size"), "Most memory for tensors, as the CLI's --max-memory: '8G', '512M', '0' for no limit");
}
