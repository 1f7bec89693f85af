#include "plan.hpp"

#include <sstream>

#include "methods/method.hpp"
#include "qcp/core/error.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/quant/act_calib.hpp"

namespace qcp::plan {

namespace {

void check_bits(int bits, const std::string& where) {
    if (bits < 2 || bits > 8) throw Error(where + "bits must be between 2 and 8, got " + std::to_string(bits));
}
void check_rank(int rank, const std::string& where) {
    if (rank < 1) throw Error(where + "rank must be at least 1, got " + std::to_string(rank));
}
void check_ratio(double r, const std::string& where) {
    if (!(r > 1.0) || r > 1e6) throw Error(where + "rank ratio must be greater than 1, got " + std::to_string(r));
}

std::regex compile(const std::string& pattern, const std::string& what) {
    try {
        return std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        throw Error(what + ": invalid regular expression '" + pattern + "': " + e.what());
    }
}

template <typename T>
T parse_number(const std::string& text, const std::string& what) {
    std::istringstream in(text);
    T v{};
    in >> v;
    if (!in || !in.eof()) throw Error(what + ": '" + text + "' is not a number");
    return v;
}

// --activations 8 and what the int8 kernels it targets need of the weights.
void validate_activation_options(const CompressOptions& o) {
    if (o.activations == 0) {
        if (!o.act_calib.empty() || o.act_percentile) throw Error("--act-calib and --act-percentile need --activations 8");
        return;
    }
    if (o.activations != 8) throw Error("--activations must be 8 or none, got " + std::to_string(o.activations));
    if (o.format && *o.format != rewrite::WeightFormat::Qdq)
        throw Error("--activations 8 needs --format qdq or auto (integer weights for the int8 kernels)");
    if (!o.symmetric)
        throw Error("--activations 8 needs symmetric weights (ONNX Runtime's QLinearConv takes one weight zero point); drop --asymmetric");
    if (o.block_size > 0) throw Error("--activations 8 takes per-tensor or per-channel weight scales, not --block-size");
    if (o.calib.empty() && !o.dry_run) throw Error("--activations needs calibration data (--calib)");
    if (o.act_percentile && !(*o.act_percentile > 50.0 && *o.act_percentile <= 100.0))
        throw Error("--act-percentile must be in (50, 100], got " + std::to_string(*o.act_percentile));
    const quant::ActCalib calib = o.act_calib.empty() ? quant::kDefaultActCalib : quant::parse_act_calib(o.act_calib);
    if (o.act_percentile && calib != quant::ActCalib::Percentile)
        throw Error("--act-percentile needs --act-calib percentile");
}

}  // namespace

std::vector<LayerRule> parse_rules(const std::vector<std::string>& texts) {
    std::vector<LayerRule> rules;
    for (const auto& text : texts) {
        const std::string what = "--layer '" + text + "'";
        const size_t eq = text.find('=');
        if (eq == std::string::npos || eq == 0) throw Error(what + ": expected 'REGEX=key=value,...'");
        LayerRule rule;
        rule.text = text;
        rule.pattern = compile(text.substr(0, eq), what);
        std::stringstream settings(text.substr(eq + 1));
        std::string item;
        while (std::getline(settings, item, ',')) {
            const size_t e = item.find('=');
            if (e == std::string::npos) throw Error(what + ": setting '" + item + "' is not key=value");
            const std::string key = item.substr(0, e), value = item.substr(e + 1);
            if (key == "rank") {
                rule.rank = parse_number<int>(value, what);
                check_rank(*rule.rank, what + ": ");
            } else if (key == "rank-ratio" || key == "rank_ratio") {
                rule.rank_ratio = parse_number<double>(value, what);
                check_ratio(*rule.rank_ratio, what + ": ");
            } else if (key == "bits") {
                rule.bits = parse_number<int>(value, what);
                check_bits(*rule.bits, what + ": ");
            } else if (key == "method") {
                (void)methods::find(value);
                rule.method = value;
            } else if (key == "centroids") {
                rule.centroids = parse_number<int64_t>(value, what);
                if (*rule.centroids < 1 || *rule.centroids > 65536) throw Error(what + ": centroids must be 1 to 65536");
            } else if (key == "block") {
                rule.pq_block = parse_number<int64_t>(value, what);
                if (*rule.pq_block < 1) throw Error(what + ": block must be at least 1");
            } else if (key == "granularity") {
                if (value != "tensor" && value != "channel") throw Error(what + ": granularity is tensor or channel");
                rule.granularity = value == "tensor" ? decomp::Granularity::Tensor : decomp::Granularity::Channel;
            } else {
                throw Error(what + ": unknown key '" + key + "' (rank, rank-ratio, bits, method, granularity, centroids, block)");
            }
        }
        rules.push_back(std::move(rule));
    }
    return rules;
}

std::vector<std::regex> parse_excludes(const std::vector<std::string>& texts) {
    std::vector<std::regex> out;
    for (const auto& t : texts) out.push_back(compile(t, "--exclude"));
    return out;
}

void validate_options(const CompressOptions& o) {
    const MethodInfo& method = methods::find(o.method).info();
    check_bits(o.bits, "");
    if (o.rank) check_rank(*o.rank, "");
    if (o.rank_ratio) check_ratio(*o.rank_ratio, "");
    if (o.rank_align < 1 || o.rank_align > 64) throw Error("--rank-align must be 1 to 64, got " + std::to_string(o.rank_align));
    if (o.rank && o.rank_ratio) throw Error("give --rank or --rank-ratio, not both");
    if (o.calib_count < 1) throw Error("--calib-count must be at least 1");
    if (o.batch < 1) throw Error("--batch must be at least 1");
    if (!o.dry_run && o.output.empty()) throw Error("no output file: give -o OUT");
    if (o.block_size < 0) throw Error("--block-size must be positive");
    if (o.centroids < 1 || o.centroids > 65536) throw Error("--centroids must be between 1 and 65536");
    if (o.pq_block < 0) throw Error("--pq-block must be positive");
    if (o.pq_iters < 1) throw Error("--pq-iters must be at least 1");
    if (!(o.damp >= 0)) throw Error("--damp must be non-negative");
    const int targets = int(o.target_ratio.has_value()) + int(o.target_size.has_value()) + int(o.target_macs.has_value());
    if (targets > 1) throw Error("give one of --target-ratio, --target-size, --target-macs");
    if (o.target_ratio && !(*o.target_ratio > 1.0)) throw Error("--target-ratio must be greater than 1");
    if (o.target_size && *o.target_size == 0) throw Error("--target-size must be positive");
    if (o.target_macs && !(*o.target_macs > 0 && *o.target_macs <= 1.0)) throw Error("--target-macs is a fraction in (0, 1]");
    if (targets && (o.rank || o.rank_ratio)) throw Error("a --target-* budget chooses the ranks; drop --rank/--rank-ratio");
    if (o.bits_auto && !targets) throw Error("--bits auto needs a --target-ratio, --target-size or --target-macs");
    if (o.method == "mixed" && !targets) throw Error("--method mixed needs a --target-ratio, --target-size or --target-macs");
    if (o.target_macs && !method.factorizes && o.method != "mixed")
        throw Error("--target-macs needs a factorizing method (" + method_names(true) + ") or mixed");
    if (o.sensitivity.value_or(false) && (!targets || o.calib.empty()))
        throw Error("--sensitivity needs a --target-* budget and calibration data (--calib)");
    if (!o.objective.empty() && o.objective != "weight" && o.objective != "output")
        throw Error("--objective is weight or output, got '" + o.objective + "'");
    if (o.objective == "output" && o.calib.empty() && !o.dry_run) throw Error("--objective output needs calibration data (--calib)");
    if (method.calib == CalibUse::Required && o.calib.empty() && !o.dry_run)
        throw Error("--method " + o.method + " needs calibration data (--calib)");
    validate_activation_options(o);
    const CompressOptions defaults;
    if (!o.measure_latency && (o.latency_reps != defaults.latency_reps || o.latency_batch != defaults.latency_batch))
        throw Error("--latency-reps and --latency-batch are for --measure-latency: give it too");
    validate_fidelity_options(o.fidelity);
}

}  // namespace qcp::plan
