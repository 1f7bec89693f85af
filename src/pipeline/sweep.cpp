#include "qcp/pipeline/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "methods/method.hpp"
#include "plan.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/inspect.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Methods a sweep runs only with calibration data: those that are refused or weakened without it.
bool needs_calib(const std::string& method) { return methods::find(method).info().calib != CalibUse::Optional; }

std::string short_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string duration_text(double s) {
    const auto total = static_cast<long long>(std::llround(s));
    if (total < 60) return std::to_string(total) + "s";
    if (total < 3600) return std::to_string(total / 60) + "m" + std::to_string(total % 60) + "s";
    return std::to_string(total / 3600) + "h" + std::to_string(total / 60 % 60) + "m";
}

template <typename T>
void check_unique(const std::vector<T>& v, const std::string& flag) {
    std::set<T> seen;
    for (const T& x : v)
        if (!seen.insert(x).second) throw Error(flag + ": '" + short_number(static_cast<double>(x)) + "' is listed twice");
}

CompressOptions compress_options(const SweepOptions& o, const SweepCombo& c) {
    CompressOptions co;
    co.model = o.model;
    co.output = o.out / "models" / (c.name + ".onnx");
    co.method = c.method;
    if (c.bits) co.bits = *c.bits;
    if (c.rank_ratio) co.rank_ratio = *c.rank_ratio;
    if (c.centroids) co.centroids = *c.centroids;
    co.calib = o.calib;
    co.calib_count = o.calib_count;
    co.threads = o.threads;
    co.seed = o.seed;
    co.force = o.force;
    co.image = o.image;
    co.fidelity = o.fidelity;
    co.input_shapes = o.input_shapes;
    co.input_values = o.input_values;
    return co;
}

const std::vector<std::string> kSweepFiles = {"results.csv", "results.md", "pareto.svg", "pareto_macs.svg", "results.json"};

// Writes every result file at once (atomically); results.json only when `with_json`.
void write_sweep_files(const SweepReport& r, const std::filesystem::path& out, bool with_json) {
    const std::string contents[] = {sweep_to_csv(r), sweep_to_markdown(r), plot::render_svg(sweep_chart(r, SweepAxis::FileBytes)),
                                    plot::render_svg(sweep_chart(r, SweepAxis::Macs)),
                                    with_json ? sweep_to_json(r).dump(2) + "\n" : std::string()};
    std::vector<fs::PendingFile> pending;
    for (size_t k = 0; k < kSweepFiles.size() - (with_json ? 0 : 1); ++k) {
        const std::string* text = &contents[k];
        pending.push_back({out / kSweepFiles[k], [text](std::ostream& s) { s << *text; }});
    }
    fs::write_files_atomic(pending, true);
}

}  // namespace

SweepOptions sweep_resolve(const SweepOptions& options, std::vector<std::string>* skipped) {
    SweepOptions o = options;
    if (o.model.empty()) throw Error("sweep needs a MODEL");
    if (o.data.empty()) throw Error("sweep needs --data (with --labels it ranks by top-1, without by fidelity to the fp32 model)");
    validate_fidelity_options(o.fidelity);
    if (o.out.empty()) throw Error("sweep needs --out DIR");
    if (o.count < 0) throw Error("--count must be 0 (all) or positive");
    if (o.batch < 1) throw Error("--batch must be at least 1");
    if (o.calib_count < 1) throw Error("--calib-count must be at least 1");
    if (o.methods.empty()) {
        for (const auto& info : compress_methods()) {
            const std::string m = info.name;
            if (info.sweep == SweepAxes::None) continue;  // mixed: a budget's choice, not a grid
            if (needs_calib(m) && o.calib.empty()) {
                if (skipped) skipped->push_back(m + ": needs --calib");
                continue;
            }
            o.methods.push_back(m);
        }
    } else {
        for (const auto& m : o.methods) {
            try {
                (void)methods::find(m);
            } catch (const Error& e) {
                throw Error(std::string("--methods: ") + e.what());
            }
            if (methods::find(m).info().sweep == SweepAxes::None)
                throw Error("--methods " + m + ": not swept (it needs a --target-*; run qcp compress --method " + m + " --target-ratio R)");
            if (needs_calib(m) && o.calib.empty()) throw Error("--methods " + m + " needs calibration data (--calib)");
        }
        std::set<std::string> seen;
        for (const auto& m : o.methods)
            if (!seen.insert(m).second) throw Error("--methods: '" + m + "' is listed twice");
    }
    for (int b : o.bits)
        if (b < 2 || b > 8) throw Error("--bits: each value must be between 2 and 8, got " + std::to_string(b));
    for (double r : o.rank_ratios)
        if (!(r > 1.0) || r > 1e6) throw Error("--rank-ratios: each ratio must be greater than 1, got " + short_number(r));
    for (int64_t k : o.centroids)
        if (k < 2 || k > 65536) throw Error("--centroids: each value must be between 2 and 65536, got " + std::to_string(k));
    check_unique(o.bits, "--bits");
    check_unique(o.rank_ratios, "--rank-ratios");
    check_unique(o.centroids, "--centroids");
    if (o.rank_ratios.empty()) o.rank_ratios = kSweepDefaultRankRatios;
    if (o.centroids.empty()) o.centroids = kSweepDefaultCentroids;
    return o;
}

std::vector<SweepCombo> sweep_combinations(const SweepOptions& o) {
    std::vector<SweepCombo> combos;
    for (const auto& m : o.methods) {
        const SweepAxes axes = methods::find(m).info().sweep;
        if (axes == SweepAxes::Centroids) {
            for (int64_t k : o.centroids) combos.push_back({m, std::nullopt, std::nullopt, k, m + "-k" + std::to_string(k)});
            continue;
        }
        const bool cp = axes == SweepAxes::BitsAndRankRatio;
        const std::vector<int>& bits = !o.bits.empty() ? o.bits : cp ? kSweepDefaultCpBits : kSweepDefaultQuantBits;
        for (int b : bits) {
            const std::string base = m + "-b" + std::to_string(b);
            if (!cp) {
                combos.push_back({m, b, std::nullopt, std::nullopt, base});
                continue;
            }
            for (double r : o.rank_ratios) combos.push_back({m, b, r, std::nullopt, base + "-r" + short_number(r)});
        }
    }
    return combos;
}

SweepReport sweep(const SweepOptions& options) {
    const auto t_start = Clock::now();
    SweepReport report;
    report.options = sweep_resolve(options, &report.skipped);
    const SweepOptions& o = report.options;
    if (o.fidelity.class_axis) check_fidelity_options(o.model, o.fidelity);  // before the first compression
    for (const auto& s : report.skipped) spdlog::warn("sweep: skipping {} (give --calib to include it)", s);
    const std::vector<SweepCombo> combos = sweep_combinations(o);
    if (combos.empty()) throw Error("sweep: no combination to run (every method was skipped)");

    // every setting and every output path is checked before the first (slow) compression
    std::error_code ec;
    if (!o.force) {
        for (const auto& f : kSweepFiles)
            if (std::filesystem::exists(o.out / f, ec)) throw Error((o.out / f).string() + ": already exists (use --force to overwrite)");
        for (const auto& c : combos)
            if (std::filesystem::exists(compress_options(o, c).output, ec))
                throw Error(compress_options(o, c).output.string() + ": already exists (use --force to overwrite)");
    }
    for (const auto& c : combos) {
        try {
            plan::validate_options(compress_options(o, c));
        } catch (const Error& e) {
            throw Error(c.name + ": " + e.what());
        }
    }
    std::filesystem::create_directories(o.out / "models", ec);
    if (ec) throw Error((o.out / "models").string() + ": cannot create folder: " + ec.message());

    // ---- the fp32 reference, once ----------------------------------------------------------
    EvalOptions eo;
    eo.model = o.model;
    eo.data = o.data;
    eo.labels = o.labels;
    eo.count = o.count;
    eo.fidelity = o.fidelity;
    static_cast<RunOptions&>(eo) = o;
    const auto t_ref = Clock::now();
    const EvalReport ref = evaluate(eo);
    const InspectReport info = inspect(InspectOptions{o.model, o.input_shapes});
    report.reference = {o.model.string(), ref.samples, 100.0 * ref.top1.value_or(0), info.bytes, info.macs, info.params, since(t_ref)};
    if (o.labels.empty()) {
        report.reference.metric.clear();  // the first evaluated run tells which fidelity the model has
        spdlog::info("sweep: fp32 on {} samples (no labels: ranked by fidelity to fp32); {} combinations", ref.samples, combos.size());
    } else {
        spdlog::info("sweep: fp32 top-1 {:.2f}% on {} samples; {} combinations", report.reference.top1, ref.samples, combos.size());
    }

    // ---- every combination -----------------------------------------------------------------
    const auto t_runs = Clock::now();
    for (size_t i = 0; i < combos.size(); ++i) {
        SweepRow row;
        row.combo = combos[i];
        row.path = "models/" + combos[i].name + ".onnx";
        const CompressOptions co = compress_options(o, combos[i]);
        try {
            const CompressReport cr = compress(co);
            row.compress_report = compress_to_json(cr);
            const auto& totals = row.compress_report["totals"];
            auto number = [](const nlohmann::ordered_json& j) { return j.is_number() ? std::optional<double>(j.get<double>()) : std::nullopt; };
            row.compression_ratio = number(totals["compression_ratio"]);
            row.file_ratio = number(totals["file_ratio"]);
            row.macs_ratio = number(totals["macs_ratio"]);
            row.file_bytes = cr.output_bytes;
            row.macs = cr.output_macs;
            row.params = cr.output_params;
            row.seconds_compress = cr.seconds;
            const auto t_eval = Clock::now();
            EvalOptions ce = eo;
            ce.model = co.output;
            ce.ref = o.model;
            const EvalReport ev = evaluate(ce);
            row.seconds_eval = since(t_eval);
            if (ev.top1) row.top1 = 100.0 * *ev.top1, row.top1_drop = report.reference.top1 - *row.top1;
            if (ev.agreement) row.agreement = 100.0 * *ev.agreement;
            row.output_rel_error = ev.output_rel_error;
            row.fidelity = ev.fidelity;
            row.outputs = fidelity_to_json(ev.outputs);
            if (report.reference.metric.empty() && ev.fidelity) report.reference.metric = ev.fidelity->metric;
        } catch (const std::exception& e) {
            row.status = "failed";
            row.error = e.what();
            spdlog::warn("sweep: {} failed: {}", combos[i].name, row.error);
        }
        const double elapsed = since(t_runs);
        const double eta = elapsed / static_cast<double>(i + 1) * static_cast<double>(combos.size() - i - 1);
        const std::string score =
            row.top1 ? fmt::format("top-1 {:.2f}% ({:+.2f})", *row.top1, -row.top1_drop.value_or(0))
            : row.fidelity ? fmt::format("{} {:.2f}{}", fidelity_metric_label(row.fidelity->metric), row.fidelity->value,
                                         row.fidelity->percent ? "%" : " dB")
                           : std::string("-");
        const std::string line =
            row.status == "ok"
                ? fmt::format("[{}/{}] {}: {}, file {:.2f}x smaller ({:.1f} s); ETA {}", i + 1, combos.size(), row.combo.name, score,
                              row.file_ratio.value_or(0), row.seconds_compress + row.seconds_eval, duration_text(eta))
                : fmt::format("[{}/{}] {}: failed; ETA {}", i + 1, combos.size(), row.combo.name, duration_text(eta));
        if (log::progress_enabled()) spdlog::info("{}", line);
        else spdlog::debug("{}", line);
        report.rows.push_back(std::move(row));
    }
    report.seconds = since(t_start);

    write_sweep_files(report, o.out, true);
    return report;
}

SweepReport sweep_replot(const std::filesystem::path& out) {
    const std::filesystem::path path = out / "results.json";
    const std::vector<uint8_t> bytes = fs::read_file(path);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(bytes.begin(), bytes.end());
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": not valid JSON: " + e.what());
    }
    SweepReport r;
    try {
        r = sweep_from_json(j);
    } catch (const Error& e) {
        throw Error(path.string() + ": " + e.what());
    }
    r.options.out = out;
    write_sweep_files(r, out, false);
    return r;
}

}  // namespace qcp
