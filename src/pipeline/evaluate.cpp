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

// Refuses options that the declared output shapes already rule out (unknown dims as -1).
void check_declared_outputs(const ir::Model& m, const FidelityOptions& o) {
    validate_fidelity_options(o);
    bool any_rank3 = false, all_declared = true;
    for (const auto& v : m.graph.outputs) {
        all_declared = all_declared && v.has_shape;
        any_rank3 = any_rank3 || (v.has_shape && v.dims.size() >= 3);
        if (v.has_shape && !v.dims.empty()) (void)output_layout(v.concrete_shape(-1), o, v.name);
    }
    if (o.class_axis && all_declared && !any_rank3 && !m.graph.outputs.empty())
        throw Error("--class-axis applies to outputs of rank 3 or more; output '" + m.graph.outputs[0].name + "' has shape " +
                    m.graph.outputs[0].shape_str() + " (an (N, classes) output has its classes on axis 1 already)");
}

// Labels score the first output, which must then be a classifier.
void check_labelled_output(const Tensor& y, const std::string& name, const FidelityOptions& o) {
    if (output_layout(y.shape(), o, name).kind != OutputKind::Classifier)
        throw Error("--labels needs a first output of shape (N, classes); output '" + name + "' has shape " + shape_str(y.shape()) +
                    " (use --ref for agreement per position or mask IoU)");
}

// The legacy top-level fields, from the first output.
template <typename R>
void fill_first_output_fields(R& r, std::vector<OutputFidelity> outputs) {
    r.outputs = std::move(outputs);
    r.fidelity = primary_fidelity(r.outputs);
    if (r.outputs.empty() || !r.outputs[0].samples) return;
    const OutputFidelity& f = r.outputs[0];
    r.agreement = f.top1_agreement;
    r.kl = f.kl;
    r.output_rel_error = f.rel_error;
    r.sqnr_db = f.sqnr_db;
}

std::string fidelity_summary(const std::optional<PrimaryFidelity>& f) {
    if (!f) return "-";
    return fidelity_metric_label(f->metric) + " " + (f->percent ? fixed(f->value, 2) + "%" : opt_num(f->value, 2) + " dB") + " ('" +
           f->output + "')";
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

void check_fidelity_options(const std::filesystem::path& model, const FidelityOptions& o) {
    validate_fidelity_options(o);
    check_declared_outputs(onnx_io::load_model(model), o);
}

nlohmann::ordered_json primary_fidelity_json(const std::optional<PrimaryFidelity>& f) {
    if (!f) return nullptr;
    return {{"metric", f->metric}, {"output", f->output}, {"value", opt_json(f->value)}, {"unit", f->percent ? "percent" : "dB"}};
}

void ReferenceRun::start() {
    if (filled_) return;
    bytes_ = 0;
    over_ = false;
    batches_.clear();
}

void ReferenceRun::add(std::vector<Tensor> outputs) {
    if (filled_ || over_) return;
    for (const auto& t : outputs) bytes_ += t.nbytes();
    if (bytes_ > max_bytes_) {
        over_ = true;
        batches_.clear();
        batches_.shrink_to_fit();
        return;
    }
    batches_.push_back(std::move(outputs));
}

void ReferenceRun::finish(std::optional<double> top1) {
    if (filled_) return;
    filled_ = true;
    top1_ = top1;
}

EvalReport evaluate(const EvalOptions& o) {
    ReferenceRun once(0);  // one evaluation: nothing to keep
    return evaluate(o, once);
}

EvalReport evaluate(const EvalOptions& o, ReferenceRun& reference) {
    check_batch(o.batch);
    set_num_threads(o.threads);
    if (!o.dump_outputs.empty() && !o.force && std::filesystem::exists(o.dump_outputs))
        throw Error(o.dump_outputs.string() + ": already exists (use --force to overwrite)");
    validate_fidelity_options(o.fidelity);
    Loaded model(o.model);
    check_declared_outputs(model.model, o.fidelity);
    const bool use_kept = !o.ref.empty() && reference.kept();
    std::unique_ptr<Loaded> ref;
    if (!o.ref.empty() && !use_kept) ref = std::make_unique<Loaded>(o.ref);
    const std::vector<std::string>& names = model.session->output_names();
    ModelFidelity fidelity(names, o.fidelity);
    auto ds = open_model_data(model.model, o.data, o);
    if (ref) check_same_inputs(model.model, ref->model, o);
    const std::vector<int64_t> labels = load_checked_labels(o.labels, *ds);
    const int64_t total = o.count > 0 ? std::min(o.count, ds->size()) : ds->size();
    spdlog::debug("evaluating {} on {} samples of {}{}", o.model.string(), total, ds->describe(),
                  use_kept ? " (the reference's outputs kept from an earlier run)" : "");

    const bool filling = ref && !reference.filled();
    if (filling) reference.start();
    Metrics metrics, ref_metrics;
    double run_seconds = 0;
    std::vector<uint8_t> dumped;  // float32 bytes of the first output, sample after sample
    Shape dump_shape;
    for (int64_t begin = 0; begin < total; begin += o.batch) {
        const int64_t n = std::min(o.batch, total - begin);
        const std::vector<Tensor> x = ds->read_inputs(begin, n);
        const auto t0 = Clock::now();
        const std::vector<Tensor> y = model.session->run(x);
        run_seconds += since(t0);
        const int64_t* lab = labels.empty() ? nullptr : labels.data() + begin;
        if (lab && begin == 0) check_labelled_output(y.at(0), names.at(0), o.fidelity);
        metrics.add(y.at(0), lab, nullptr);
        if (use_kept) {
            fidelity.add(y, reference.batch(static_cast<size_t>(begin / o.batch)));
        } else if (ref) {
            std::vector<Tensor> r = ref->session->run(x);
            fidelity.add(y, r);
            if (filling) {
                if (lab) ref_metrics.add(r.at(0), lab, nullptr);
                reference.add(std::move(r));
            }
        }
        if (!o.dump_outputs.empty()) {
            if (dump_shape.empty()) dump_shape = y[0].shape(), dump_shape[0] = 0;
            dump_shape[0] += y[0].dim(0);
            dumped.insert(dumped.end(), y[0].bytes().begin(), y[0].bytes().end());
        }
    }
    if (filling) reference.finish(labels.empty() ? std::nullopt : ref_metrics.top1());
    if (!o.dump_outputs.empty()) npy::save(o.dump_outputs, Tensor(DType::Float32, dump_shape, std::move(dumped)), o.force);
    EvalReport r;
    r.model = o.model.string();
    r.samples = metrics.samples();
    r.top1 = metrics.top1();
    r.top5 = metrics.top5();
    if (!o.ref.empty()) fill_first_output_fields(r, fidelity.results());
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
            {"fidelity", primary_fidelity_json(r.fidelity)},
            {"outputs", r.outputs.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(fidelity_to_json(r.outputs))},
            {"seconds", r.seconds},
            {"samples_per_second", r.samples_per_second}};
}

std::string eval_to_text(const EvalReport& r) {
    std::string s = "model:      " + r.model + "\n";
    s += "samples:    " + std::to_string(r.samples) + "\n";
    s += "top-1:      " + opt_pct(r.top1) + "\n";
    s += "top-5:      " + opt_pct(r.top5) + "\n";
    if (!r.outputs.empty()) {
        if (r.agreement) s += "agreement:  " + opt_pct(r.agreement) + " (top-1)\n";
        s += "rel. error: " + opt_num(r.output_rel_error, 6) + "\n";
        s += "SQNR:       " + opt_num(r.sqnr_db, 2) + " dB\n";
        if (r.kl) s += "KL:         " + opt_num(r.kl, 6) + "\n";
        s += "fidelity:   " + fidelity_summary(r.fidelity) + "\n";
        s += "outputs against --ref:\n" + fidelity_to_text(r.outputs, "  ");
    }
    s += "throughput: " + fixed(r.samples_per_second, 1) + " samples/s (" + fixed(r.seconds, 3) + " s)\n";
    return s;
}

CompareReport compare(const CompareOptions& o) {
    check_batch(o.batch);
    set_num_threads(o.threads);
    validate_fidelity_options(o.fidelity);
    Loaded a(o.model_a), b(o.model_b);
    check_declared_outputs(a.model, o.fidelity);
    ModelFidelity fidelity(b.session->output_names(), o.fidelity);
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
        if (lab && begin == 0) check_labelled_output(ya.at(0), a.session->output_names().at(0), o.fidelity);
        ma.add(ya.at(0), lab, nullptr);
        mb.add(yb.at(0), lab, nullptr);
        fidelity.add(yb, ya);
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
    fill_first_output_fields(r, fidelity.results());
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
            {"kl", opt_json(r.kl)},
            {"fidelity", primary_fidelity_json(r.fidelity)},
            {"outputs", fidelity_to_json(r.outputs)}};
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
    s += "samples " + std::to_string(r.samples) + ", batch " + std::to_string(r.batch) + "; B against A: " +
         (r.agreement ? "top-1 agreement " + opt_pct(r.agreement) + ", " : std::string()) + "rel. error " + opt_num(r.output_rel_error, 6) +
         ", SQNR " + opt_num(r.sqnr_db, 2) + " dB" + (r.kl ? ", KL " + opt_num(r.kl, 6) : std::string()) + "; fidelity " +
         fidelity_summary(r.fidelity) + "\n" + fidelity_to_text(r.outputs, "  ");
    return s;
}

}  // namespace qcp
