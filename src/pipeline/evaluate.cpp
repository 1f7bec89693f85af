#include "qcp/pipeline/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "inputs.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/inspect.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void check_batch(int64_t batch) {
    if (batch < 1) throw Error("--batch must be at least 1");
}

nlohmann::ordered_json opt_json(const std::optional<double>& v) {
    if (!v || !std::isfinite(*v)) return nullptr;
    return *v;
}

std::string opt_pct(const std::optional<double>& v) { return v ? fixed(100.0 * *v, 2) + "%" : "-"; }
std::string opt_num(const std::optional<double>& v, int d) {
    if (!v) return "-";
    if (!std::isfinite(*v)) return "inf";
    return fixed(*v, d);
}

// A model loaded and bound to the engine, with its dataset-facing input shape.
struct Loaded {
    ir::Model model;
    std::unique_ptr<engine::Session> session;
    explicit Loaded(const std::filesystem::path& path) : model(onnx_io::load_model(path)) {
        session = std::make_unique<engine::Session>(model);
    }
};

// Both models take the same inputs, of shapes the data fits (checked through the first model).
void check_same_inputs(const ir::Model& a, const ir::Model& b, const RunOptions& o) {
    const auto ia = model_inputs(a, {}), ib = model_inputs(b, {});
    bool same = ia.size() == ib.size();
    for (size_t i = 0; same && i < ia.size(); ++i) same = ia[i].name == ib[i].name;
    if (!same) {
        auto names = [](const std::vector<data::ModelInput>& v) {
            std::string s;
            for (const auto& m : v) s += (s.empty() ? "" : ", ") + m.name;
            return s;
        };
        throw Error("the models take different inputs (" + names(ia) + " vs " + names(ib) + ")");
    }
    (void)model_inputs(b, o.input_shapes);  // its static dims against --input-shape
}

std::vector<int64_t> load_checked_labels(const std::filesystem::path& path, const data::Dataset& ds) {
    if (path.empty()) return {};
    std::vector<int64_t> labels = data::load_labels(path);
    data::check_labels(ds, labels);
    return labels;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

EvalReport evaluate(const EvalOptions& o) {
    check_batch(o.batch);
    set_num_threads(o.threads);
    if (!o.dump_outputs.empty() && !o.force && std::filesystem::exists(o.dump_outputs))
        throw Error(o.dump_outputs.string() + ": already exists (use --force to overwrite)");
    Loaded model(o.model);
    std::unique_ptr<Loaded> ref;
    if (!o.ref.empty()) ref = std::make_unique<Loaded>(o.ref);
    auto ds = open_model_data(model.model, o.data, o);
    if (ref) check_same_inputs(model.model, ref->model, o);
    const std::vector<int64_t> labels = load_checked_labels(o.labels, *ds);
    const int64_t total = o.count > 0 ? std::min(o.count, ds->size()) : ds->size();
    spdlog::debug("evaluating {} on {} samples of {}", o.model.string(), total, ds->describe());

    Metrics metrics;
    double run_seconds = 0;
    std::vector<uint8_t> dumped;  // float32 bytes of the first output, sample after sample
    Shape dump_shape;
    for (int64_t begin = 0; begin < total; begin += o.batch) {
        const int64_t n = std::min(o.batch, total - begin);
        const std::vector<Tensor> x = ds->read_inputs(begin, n);
        const auto t0 = Clock::now();
        const std::vector<Tensor> y = model.session->run(x);
        run_seconds += since(t0);
        std::vector<Tensor> yref;
        if (ref) yref = ref->session->run(x);
        metrics.add(y.at(0), labels.empty() ? nullptr : labels.data() + begin, ref ? &yref.at(0) : nullptr);
        if (!o.dump_outputs.empty()) {
            if (dump_shape.empty()) dump_shape = y[0].shape(), dump_shape[0] = 0;
            dump_shape[0] += y[0].dim(0);
            dumped.insert(dumped.end(), y[0].bytes().begin(), y[0].bytes().end());
        }
    }
    if (!o.dump_outputs.empty()) npy::save(o.dump_outputs, Tensor(DType::Float32, dump_shape, std::move(dumped)), o.force);
    EvalReport r;
    r.model = o.model.string();
    r.samples = metrics.samples();
    r.top1 = metrics.top1();
    r.top5 = metrics.top5();
    r.agreement = metrics.agreement();
    r.output_rel_error = metrics.output_rel_error();
    r.sqnr_db = metrics.sqnr_db();
    r.kl = metrics.kl();
    r.seconds = run_seconds;
    r.samples_per_second = run_seconds > 0 ? r.samples / run_seconds : 0;
    return r;
}

nlohmann::ordered_json eval_to_json(const EvalReport& r) {
    return {{"model", r.model},
            {"samples", r.samples},
            {"top1", opt_json(r.top1)},
            {"top5", opt_json(r.top5)},
            {"agreement", opt_json(r.agreement)},
            {"output_rel_error", opt_json(r.output_rel_error)},
            {"sqnr_db", opt_json(r.sqnr_db)},
            {"kl", opt_json(r.kl)},
            {"seconds", r.seconds},
            {"samples_per_second", r.samples_per_second}};
}

std::string eval_to_text(const EvalReport& r) {
    std::string s = "model:      " + r.model + "\n";
    s += "samples:    " + std::to_string(r.samples) + "\n";
    s += "top-1:      " + opt_pct(r.top1) + "\n";
    s += "top-5:      " + opt_pct(r.top5) + "\n";
    if (r.agreement) {
        s += "agreement:  " + opt_pct(r.agreement) + "\n";
        s += "rel. error: " + opt_num(r.output_rel_error, 6) + "\n";
        s += "SQNR:       " + opt_num(r.sqnr_db, 2) + " dB\n";
        s += "KL:         " + opt_num(r.kl, 6) + "\n";
    }
    s += "throughput: " + fixed(r.samples_per_second, 1) + " samples/s (" + fixed(r.seconds, 3) + " s)\n";
    return s;
}

CompareReport compare(const CompareOptions& o) {
    check_batch(o.batch);
    set_num_threads(o.threads);
    Loaded a(o.model_a), b(o.model_b);
    auto ds = open_model_data(a.model, o.data, o);
    check_same_inputs(a.model, b.model, o);
    const std::vector<int64_t> labels = load_checked_labels(o.labels, *ds);
    const int64_t total = o.count > 0 ? std::min(o.count, ds->size()) : ds->size();

    Metrics ma, mb;
    std::vector<double> ta, tb;
    for (int64_t begin = 0; begin < total; begin += o.batch) {
        const int64_t n = std::min(o.batch, total - begin);
        const std::vector<Tensor> x = ds->read_inputs(begin, n);
        auto t0 = Clock::now();
        const auto ya = a.session->run(x);
        const double da = since(t0);
        t0 = Clock::now();
        const auto yb = b.session->run(x);
        const double db = since(t0);
        if (n == o.batch) {  // a short last batch would skew per-batch latency
            ta.push_back(da);
            tb.push_back(db);
        }
        const int64_t* lab = labels.empty() ? nullptr : labels.data() + begin;
        ma.add(ya.at(0), lab, nullptr);
        mb.add(yb.at(0), lab, &ya.at(0));
    }
    auto side = [&](const std::filesystem::path& path, const Loaded& l, const Metrics& m, const std::vector<double>& t) {
        CompareSide s;
        s.model = path.string();
        std::error_code ec;
        s.bytes = std::filesystem::file_size(path, ec);
        for (const auto& f : l.model.external_files) s.bytes += std::filesystem::file_size(f, ec);
        const InspectReport info = inspect_model(l.model, s.model, s.bytes);
        s.params = info.params;
        s.macs = info.macs;
        s.top1 = m.top1();
        s.top5 = m.top5();
        s.seconds_per_batch = median(t);
        s.samples_per_second = s.seconds_per_batch > 0 ? o.batch / s.seconds_per_batch : 0;
        return s;
    };
    CompareReport r;
    r.a = side(o.model_a, a, ma, ta);
    r.b = side(o.model_b, b, mb, tb);
    r.samples = mb.samples();
    r.batch = o.batch;
    r.agreement = mb.agreement();
    r.output_rel_error = mb.output_rel_error();
    r.sqnr_db = mb.sqnr_db();
    r.kl = mb.kl();
    return r;
}

nlohmann::ordered_json compare_to_json(const CompareReport& r) {
    auto side = [](const CompareSide& s) {
        return nlohmann::ordered_json{{"model", s.model},
                                      {"bytes", s.bytes},
                                      {"params", s.params},
                                      {"macs", s.macs},
                                      {"top1", opt_json(s.top1)},
                                      {"top5", opt_json(s.top5)},
                                      {"seconds_per_batch", s.seconds_per_batch},
                                      {"samples_per_second", s.samples_per_second}};
    };
    return {{"a", side(r.a)},
            {"b", side(r.b)},
            {"samples", r.samples},
            {"batch", r.batch},
            {"agreement", opt_json(r.agreement)},
            {"output_rel_error", opt_json(r.output_rel_error)},
            {"sqnr_db", opt_json(r.sqnr_db)},
            {"kl", opt_json(r.kl)}};
}

std::string compare_to_text(const CompareReport& r) {
    Table t({"", "A", "B", "B/A"});
    auto ratio = [](double b, double a) { return a > 0 ? fixed(b / a, 3) : std::string("-"); };
    t.add_row({"model", r.a.model, r.b.model, ""});
    t.add_row({"file", human_bytes(r.a.bytes), human_bytes(r.b.bytes), ratio(double(r.b.bytes), double(r.a.bytes))});
    t.add_row({"params", human_count(r.a.params), human_count(r.b.params), ratio(double(r.b.params), double(r.a.params))});
    t.add_row({"MACs", human_count(r.a.macs), human_count(r.b.macs), ratio(double(r.b.macs), double(r.a.macs))});
    t.add_row({"top-1", opt_pct(r.a.top1), opt_pct(r.b.top1), ""});
    t.add_row({"top-5", opt_pct(r.a.top5), opt_pct(r.b.top5), ""});
    t.add_row({"ms/batch", fixed(1e3 * r.a.seconds_per_batch, 2), fixed(1e3 * r.b.seconds_per_batch, 2),
               ratio(r.b.seconds_per_batch, r.a.seconds_per_batch)});
    std::string s = t.render();
    s += "samples " + std::to_string(r.samples) + ", batch " + std::to_string(r.batch) + "; B against A: agreement " +
         opt_pct(r.agreement) + ", rel. error " + opt_num(r.output_rel_error, 6) + ", SQNR " + opt_num(r.sqnr_db, 2) +
         " dB, KL " + opt_num(r.kl, 6) + "\n";
    return s;
}

}  // namespace qcp
