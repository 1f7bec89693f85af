// The sweep's outputs: CSV, JSON, Markdown, the terminal table and the two charts.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "qcp/core/error.hpp"
#include "qcp/core/version.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/sweep.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

const std::vector<std::string> kSweepCsvColumns = {
    "method", "bits",     "rank_ratio", "centroids",  "top1",  "top1_drop",        "agreement",    "output_rel_error",
    "file_bytes", "compression_ratio", "file_ratio", "macs", "macs_ratio", "params", "seconds_compress", "seconds_eval",
    "status", "path",     "error", "fidelity_metric", "fidelity"};

namespace {

using json = nlohmann::ordered_json;

// The charts' y axis shows top-1 down to about this many points under fp32 (rounded down to a
// multiple of 5%); runs that fell further are drawn hollow on the bottom edge, so one collapsed
// 2-bit run does not squeeze every other point into a sliver.
constexpr double kChartMaxDropShown = 15;

std::string g(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

template <typename T>
std::string opt_text(const std::optional<T>& v, int decimals) {
    if (!v) return "";
    if constexpr (std::is_floating_point_v<T>) return std::isfinite(*v) ? fixed(*v, decimals) : "";
    else return std::to_string(*v);
}

template <typename T>
json opt_json(const std::optional<T>& v) {
    if (!v) return nullptr;
    if constexpr (std::is_floating_point_v<T>)
        if (!std::isfinite(*v)) return nullptr;
    return *v;
}

// RFC 4180: quote fields holding a comma, quote or line break; double the quotes inside.
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::vector<std::string> csv_cells(const SweepRow& r) {
    const SweepCombo& c = r.combo;
    const bool ok = r.status == "ok";
    return {c.method,
            c.bits ? std::to_string(*c.bits) : "",
            c.rank_ratio ? g(*c.rank_ratio) : "",
            c.centroids ? std::to_string(*c.centroids) : "",
            opt_text(r.top1, 2),
            opt_text(r.top1_drop, 2),
            opt_text(r.agreement, 2),
            opt_text(r.output_rel_error, 5),
            ok ? std::to_string(r.file_bytes) : "",
            opt_text(r.compression_ratio, 3),
            opt_text(r.file_ratio, 3),
            ok ? std::to_string(r.macs) : "",
            opt_text(r.macs_ratio, 3),
            ok ? std::to_string(r.params) : "",
            fixed(r.seconds_compress, 2),
            fixed(r.seconds_eval, 2),
            r.status,
            r.path,
            r.error,
            r.fidelity ? r.fidelity->metric : "",
            r.fidelity ? opt_text(std::optional<double>(r.fidelity->value), 4) : ""};
}

bool percent_metric(const std::string& metric) { return metric != "sqnr_db"; }

// "top-1 %", "position agreement %", "SQNR dB"
std::string score_header(const SweepReference& ref) {
    if (ref.metric.empty()) return "fidelity";
    return fidelity_metric_label(ref.metric) + (percent_metric(ref.metric) ? " %" : " dB");
}

// fp32's own score: its top-1, 100% against itself, or none (SQNR)
std::optional<double> reference_score(const SweepReference& ref) {
    if (ref.metric == "top1") return ref.top1;
    if (!ref.metric.empty() && percent_metric(ref.metric)) return 100.0;
    return std::nullopt;
}

std::string setting_text(const SweepCombo& c) {
    if (c.centroids) return "k" + std::to_string(*c.centroids);
    return "b" + std::to_string(c.bits.value_or(0)) + (c.rank_ratio ? " r" + g(*c.rank_ratio) : "");
}

}  // namespace

std::optional<double> sweep_score(const SweepReport& r, const SweepRow& row) {
    if (row.status != "ok") return std::nullopt;
    if (r.reference.metric == "top1") return row.top1;
    if (row.fidelity && row.fidelity->metric == r.reference.metric && std::isfinite(row.fidelity->value)) return row.fidelity->value;
    return std::nullopt;
}

std::optional<double> sweep_drop(const SweepReport& r, const SweepRow& row) {
    if (r.reference.metric == "top1") return row.status == "ok" ? row.top1_drop : std::nullopt;
    const auto ref = reference_score(r.reference);
    const auto score = sweep_score(r, row);
    if (!ref || !score) return std::nullopt;
    return *ref - *score;
}

std::string sweep_to_csv(const SweepReport& r) {
    std::string s;
    for (size_t i = 0; i < kSweepCsvColumns.size(); ++i) s += (i ? "," : "") + kSweepCsvColumns[i];
    s += "\n";
    for (const auto& row : r.rows) {
        const auto cells = csv_cells(row);
        for (size_t i = 0; i < cells.size(); ++i) s += (i ? "," : "") + csv_field(cells[i]);
        s += "\n";
    }
    return s;
}

json sweep_to_json(const SweepReport& r) {
    const SweepOptions& o = r.options;
    json settings = {{"model", o.model.string()},
                     {"data", o.data.string()},
                     {"labels", o.labels.string()},
                     {"count", o.count > 0 ? json(o.count) : json(nullptr)},
                     {"calib", o.calib.empty() ? json(nullptr) : json(o.calib.string())},
                     {"calib_count", o.calib_count},
                     {"methods", o.methods},
                     {"bits", o.bits.empty() ? json(nullptr) : json(o.bits)},
                     {"default_cp_bits", kSweepDefaultCpBits},
                     {"default_quant_bits", kSweepDefaultQuantBits},
                     {"rank_ratios", o.rank_ratios},
                     {"centroids", o.centroids},
                     {"seed", o.seed},
                     {"class_axis", opt_json(o.fidelity.class_axis)},
                     {"mask_threshold", opt_json(o.fidelity.mask_threshold)},
                     {"ctc_blank", o.fidelity.ctc_blank}};
    const SweepReference& ref = r.reference;
    json rows = json::array();
    for (const auto& row : r.rows) {
        const SweepCombo& c = row.combo;
        rows.push_back({{"name", c.name},
                        {"method", c.method},
                        {"bits", opt_json(c.bits)},
                        {"rank_ratio", opt_json(c.rank_ratio)},
                        {"centroids", opt_json(c.centroids)},
                        {"status", row.status},
                        {"error", row.error.empty() ? json(nullptr) : json(row.error)},
                        {"top1", opt_json(row.top1)},
                        {"top1_drop", opt_json(row.top1_drop)},
                        {"agreement", opt_json(row.agreement)},
                        {"output_rel_error", opt_json(row.output_rel_error)},
                        {"file_bytes", row.status == "ok" ? json(row.file_bytes) : json(nullptr)},
                        {"compression_ratio", opt_json(row.compression_ratio)},
                        {"file_ratio", opt_json(row.file_ratio)},
                        {"macs", row.status == "ok" ? json(row.macs) : json(nullptr)},
                        {"macs_ratio", opt_json(row.macs_ratio)},
                        {"params", row.status == "ok" ? json(row.params) : json(nullptr)},
                        {"seconds_compress", row.seconds_compress},
                        {"seconds_eval", row.seconds_eval},
                        {"fidelity", primary_fidelity_json(row.fidelity)},
                        {"outputs", row.outputs},
                        {"path", row.path},
                        {"compress", row.compress_report}});
    }
    return {{"qcp_version", kVersion},
            {"units", {{"top1", "percent"}, {"top1_drop", "percentage points"}, {"agreement", "percent"},
                       {"file_bytes", "bytes"}, {"macs", "multiply-accumulates per sample"}}},
            {"settings", settings},
            {"skipped", r.skipped},
            {"reference", {{"model", ref.model}, {"samples", ref.samples},
                           {"top1", ref.metric == "top1" ? json(ref.top1) : json(nullptr)},
                           {"metric", ref.metric.empty() ? json(nullptr) : json(ref.metric)}, {"file_bytes", ref.file_bytes},
                           {"macs", ref.macs}, {"params", ref.params}, {"seconds_eval", ref.seconds_eval}}},
            {"rows", rows},
            {"seconds", r.seconds}};
}

SweepReport sweep_from_json(const nlohmann::json& j) {
    using nj = nlohmann::json;
    auto opt_d = [](const nj& v) { return v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()); };
    auto or_zero = [](const nj& v, auto zero) { return v.is_null() ? zero : v.get<decltype(zero)>(); };
    SweepReport r;
    try {
        const nj& st = j.at("settings");
        SweepOptions& o = r.options;
        o.model = st.at("model").get<std::string>();
        o.data = st.at("data").get<std::string>();
        o.labels = st.at("labels").get<std::string>();
        o.count = or_zero(st.at("count"), int64_t{0});
        o.calib = or_zero(st.at("calib"), std::string());
        o.calib_count = st.at("calib_count").get<int64_t>();
        o.methods = st.at("methods").get<std::vector<std::string>>();
        o.bits = or_zero(st.at("bits"), std::vector<int>());
        o.rank_ratios = st.at("rank_ratios").get<std::vector<double>>();
        o.centroids = st.at("centroids").get<std::vector<int64_t>>();
        o.seed = st.at("seed").get<uint64_t>();
        r.skipped = j.at("skipped").get<std::vector<std::string>>();
        const nj& ref = j.at("reference");
        r.reference = {ref.at("model").get<std::string>(), ref.at("samples").get<int64_t>(), or_zero(ref.at("top1"), 0.0),
                       ref.at("file_bytes").get<uint64_t>(), ref.at("macs").get<int64_t>(), ref.at("params").get<int64_t>(),
                       ref.at("seconds_eval").get<double>(),
                       ref.contains("metric") ? or_zero(ref["metric"], std::string()) : std::string("top1")};
        if (st.contains("class_axis") && !st["class_axis"].is_null()) o.fidelity.class_axis = st["class_axis"].get<int64_t>();
        if (st.contains("mask_threshold") && !st["mask_threshold"].is_null()) o.fidelity.mask_threshold = st["mask_threshold"].get<double>();
        if (st.contains("ctc_blank")) o.fidelity.ctc_blank = st["ctc_blank"].get<int64_t>();
        for (const nj& row : j.at("rows")) {
            SweepRow w;
            w.combo.name = row.at("name").get<std::string>();
            w.combo.method = row.at("method").get<std::string>();
            if (!row.at("bits").is_null()) w.combo.bits = row["bits"].get<int>();
            w.combo.rank_ratio = opt_d(row.at("rank_ratio"));
            if (!row.at("centroids").is_null()) w.combo.centroids = row["centroids"].get<int64_t>();
            w.status = row.at("status").get<std::string>();
            w.error = or_zero(row.at("error"), std::string());
            w.top1 = opt_d(row.at("top1"));
            w.top1_drop = opt_d(row.at("top1_drop"));
            w.agreement = opt_d(row.at("agreement"));
            w.output_rel_error = opt_d(row.at("output_rel_error"));
            w.file_bytes = or_zero(row.at("file_bytes"), uint64_t{0});
            w.compression_ratio = opt_d(row.at("compression_ratio"));
            w.file_ratio = opt_d(row.at("file_ratio"));
            w.macs = or_zero(row.at("macs"), int64_t{0});
            w.macs_ratio = opt_d(row.at("macs_ratio"));
            w.params = or_zero(row.at("params"), int64_t{0});
            w.seconds_compress = row.at("seconds_compress").get<double>();
            w.seconds_eval = row.at("seconds_eval").get<double>();
            if (row.contains("fidelity") && row["fidelity"].is_object()) {
                const nj& f = row["fidelity"];
                w.fidelity = PrimaryFidelity{f.at("metric").get<std::string>(), f.at("output").get<std::string>(),
                                             f.at("value").is_null() ? INFINITY : f["value"].get<double>(),
                                             f.at("unit").get<std::string>() == "percent"};
            }
            if (row.contains("outputs")) w.outputs = row["outputs"];
            w.path = row.at("path").get<std::string>();
            w.compress_report = row.at("compress");
            r.rows.push_back(std::move(w));
        }
        r.seconds = j.at("seconds").get<double>();
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("not a qcp sweep report: ") + e.what());
    }
    return r;
}

std::string sweep_to_markdown(const SweepReport& r) {
    auto line = [](const std::vector<std::string>& cells) {
        std::string s = "|";
        for (const auto& c : cells) {
            std::string escaped;
            for (char ch : c) escaped += ch == '|' ? std::string("\\|") : ch == '\n' ? std::string(" ") : std::string(1, ch);
            s += " " + escaped + " |";
        }
        return s + "\n";
    };
    const SweepReference& ref = r.reference;
    const auto ref_score = reference_score(ref);
    std::string s = line({"method", "setting", score_header(ref), "drop (pts)", "agreement %", "file", "file ratio", "weights ratio",
                          "MACs", "MACs ratio"});
    s += "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    s += line({"fp32", "–", ref_score ? fixed(*ref_score, 2) : "–", "–", "–", human_bytes(ref.file_bytes), "1.00", "1.00",
               human_count(ref.macs), "1.00"});
    for (const auto& row : r.rows) {
        if (row.status != "ok") {
            s += line({row.combo.method, setting_text(row.combo), "failed: " + row.error, "", "", "", "", "", "", ""});
            continue;
        }
        s += line({row.combo.method, setting_text(row.combo), opt_text(sweep_score(r, row), 2), opt_text(sweep_drop(r, row), 2),
                   opt_text(row.agreement, 2), human_bytes(row.file_bytes), opt_text(row.file_ratio, 2),
                   opt_text(row.compression_ratio, 2), human_count(row.macs), opt_text(row.macs_ratio, 2)});
    }
    return s;
}

std::string sweep_to_table(const SweepReport& r) {
    const SweepReference& ref = r.reference;
    const std::string unit = percent_metric(ref.metric) ? "%" : " dB";
    const auto ref_score = reference_score(ref);
    Table t({"combination", ref.metric == "top1" ? std::string("top-1") : score_header(ref), "drop", "agreement", "file", "file ratio",
             "weights ratio", "MACs", "time", "status"});
    t.add_row({"fp32", ref_score ? fixed(*ref_score, 2) + unit : "-", "-", "-", human_bytes(ref.file_bytes), "1.00", "1.00",
               human_count(ref.macs), "-", "reference"});
    for (const auto& row : r.rows) {
        const bool ok = row.status == "ok";
        const auto score = sweep_score(r, row);
        t.add_row({row.combo.name, score ? opt_text(score, 2) + unit : "-", ok ? opt_text(sweep_drop(r, row), 2) : "-",
                   ok ? opt_text(row.agreement, 2) + "%" : "-", ok ? human_bytes(row.file_bytes) : "-",
                   ok ? opt_text(row.file_ratio, 2) : "-", ok ? opt_text(row.compression_ratio, 2) : "-",
                   ok ? human_count(row.macs) : "-", fixed(row.seconds_compress + row.seconds_eval, 1) + " s",
                   ok ? "ok" : "failed: " + row.error});
    }
    std::string s = t.render();
    for (const SweepAxis axis : {SweepAxis::FileBytes, SweepAxis::Macs}) {
        std::vector<plot::XY> pts;
        std::vector<const SweepRow*> ok;
        for (const auto& row : r.rows)
            if (const auto score = sweep_score(r, row)) {
                pts.push_back({static_cast<double>(axis == SweepAxis::FileBytes ? row.file_bytes : row.macs), *score});
                ok.push_back(&row);
            }
        std::string names;
        for (size_t i : plot::pareto_front(pts)) names += (names.empty() ? "" : ", ") + ok[i]->combo.name;
        s += std::string(axis == SweepAxis::FileBytes ? "Pareto front (file size): " : "Pareto front (MACs):      ") +
             (names.empty() ? "-" : names) + "\n";
    }
    for (const auto& sk : r.skipped) s += "skipped " + sk + "\n";
    return s;
}

plot::Chart sweep_chart(const SweepReport& r, SweepAxis axis) {
    const bool bytes = axis == SweepAxis::FileBytes;
    const SweepOptions& o = r.options;
    plot::Chart c;
    const std::string model = o.model.filename().string();
    const SweepReference& ref = r.reference;
    const bool top1 = ref.metric == "top1";
    const bool pct = percent_metric(ref.metric);
    const std::string what = top1 ? "Top-1 accuracy" : ref.metric.empty() ? "Fidelity" : fidelity_metric_label(ref.metric) + " with fp32";
    const std::string short_what = top1 ? "top-1" : ref.metric.empty() ? "fidelity" : fidelity_metric_label(ref.metric);
    std::string what_cap = what;
    what_cap[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(what_cap[0])));
    c.title = what_cap + (bytes ? " vs. compressed file size: " : " vs. MACs: ") + model;
    c.subtitle = short_what + " on " + std::to_string(r.reference.samples) + " samples of " + o.data.filename().string() +
                 (o.calib.empty() ? "; no calibration data"
                                  : "; calibration: " + std::to_string(o.calib_count) + " of " + o.calib.filename().string());
    c.notes = {"Labels on the Pareto front:", "b = bits, r = rank ratio,", "k = pq codewords.", "Hover a marker for its run."};
    c.x = {bytes ? "model file size (bytes, log scale)" : "multiply-accumulates per sample (log scale)", plot::Scale::Log,
           bytes ? plot::TickFormat::Bytes : plot::TickFormat::Count};
    c.y = {top1 ? std::string("top-1 accuracy (%)") : pct ? short_what + " with fp32 (%)" : short_what + " against fp32 (dB)",
           plot::Scale::Linear, pct ? plot::TickFormat::Percent : plot::TickFormat::Number};
    if (const auto ref_score = reference_score(ref)) {
        c.reference_y = *ref_score;
        c.reference_label = "fp32 " + fixed(*ref_score, 2) + "%";
        c.y_floor = std::max(0.0, 5 * std::floor((*ref_score - kChartMaxDropShown) / 5));
    }
    for (const auto& method : o.methods) {
        plot::Series s{method, {}};
        for (const auto& row : r.rows) {
            const auto score = sweep_score(r, row);
            if (row.combo.method != method || !score) continue;
            const double x = bytes ? static_cast<double>(row.file_bytes) : static_cast<double>(row.macs);
            s.points.push_back({x, *score, setting_text(row.combo),
                                row.combo.name + ": " + short_what + " " + fixed(*score, 2) + (pct ? "%, " : " dB, ") +
                                    human_bytes(row.file_bytes) + ", " +
                                    human_count(row.macs) + " MACs"});
        }
        if (!s.points.empty()) c.series.push_back(std::move(s));
    }
    return c;
}

}  // namespace qcp
