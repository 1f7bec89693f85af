#include "qcp/pipeline/target_drop.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/gate.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

namespace fs_std = std::filesystem;

namespace {

struct Try {
    double ratio = 0;
    fs_std::path path;
    std::optional<CompressReport> report;  // none: the budget could not meet the ratio
    nlohmann::ordered_json gate;
    double drop() const { return gate.is_null() ? INFINITY : gate["drop"].get<double>(); }
    bool passed() const { return !gate.is_null() && gate["passed"].get<bool>(); }
};

// The tries' files, removed unless one is kept.
struct TryFiles {
    std::vector<fs_std::path> paths;
    fs_std::path cache;  // the budget's cache of damage curves and sensitivities, when ours
    ~TryFiles() {
        std::error_code ec;
        for (const auto& p : paths) fs_std::remove(p, ec);
        if (!cache.empty()) fs_std::remove_all(cache, ec);
    }
};

fs_std::path try_path(const fs_std::path& output, int k) {
    return output.parent_path() / ("." + output.filename().string() + ".try" + std::to_string(k));
}

}  // namespace

void validate_target_drop(const CompressOptions& o, const GateOptions& g, const DropSearchOptions& s) {
    if (!(s.target_drop >= 0) || !std::isfinite(s.target_drop)) throw Error("--target-drop must be a non-negative number of points");
    if (s.max_tries < 1 || s.max_tries > 64) throw Error("--target-drop-tries must be between 1 and 64");
    if (o.target_ratio || o.target_size || o.target_macs)
        throw Error("--target-drop searches the target ratio itself: give it without --target-ratio, --target-size or --target-macs");
    if (o.dry_run) throw Error("--target-drop evaluates the models it writes; it cannot be combined with --dry-run");
    if (o.external_data) throw Error("--target-drop cannot be combined with --external-data");
    if (g.data.empty()) throw Error("--target-drop needs --data (the evaluation set; with --labels it gates on top-1)");
    GateOptions gate = g;
    gate.max_drop = s.target_drop;
    validate_gate(gate, o);
}

DropSearchResult compress_to_target_drop(const CompressOptions& o, GateOptions g, const DropSearchOptions& s) {
    validate_target_drop(o, g, s);
    fs::check_writable(o.output, o.force);
    g.max_drop = s.target_drop;
    TryFiles files;
    CompressOptions base = o;
    if (base.cache.empty()) {  // the tries share the budget's measurements (only the target differs)
        files.cache = try_path(o.output, 0).string() + ".cache";
        base.cache = files.cache;
    }
    std::vector<Try> tries;
    // the original runs once on the calibration samples (each try's check) and once on the
    // evaluation set (each try's gate); its outputs are kept for the later tries
    ReferenceRun check_original, gate_original;
    auto run = [&](double ratio) -> const Try& {
        Try t;
        t.ratio = ratio;
        t.path = try_path(o.output, static_cast<int>(tries.size()) + 1);
        files.paths.push_back(t.path);
        CompressOptions one = base;
        one.target_ratio = ratio;
        one.output = t.path;
        one.force = true;
        try {
            t.report = compress(one, &check_original);
            t.gate = run_gate(g, one, gate_original);
        } catch (const UnreachableTarget& e) {
            if (tries.empty()) throw;  // not even 2x: nothing to search
            spdlog::info("--target-drop: {}x cannot be met ({})", ratio, e.what());
        }
        if (t.report)
            spdlog::info("--target-drop: try {} at {}x: {} bytes, drop {:.2f} points: {}", tries.size() + 1, ratio, t.report->output_bytes,
                         t.drop(), t.passed() ? "within" : "over");
        tries.push_back(std::move(t));
        return tries.back();
    };
    // doubling while the gate passes, then bisection in log space (from 1x, the original, when
    // even 2x fails)
    double passed = 1, failed = 0;  // ratios; failed 0: none yet
    for (double r = 2; static_cast<int>(tries.size()) < s.max_tries && r <= s.max_ratio; r *= 2) {
        const Try& t = run(r);
        if (!t.passed()) {
            failed = r;
            break;
        }
        passed = r;
    }
    while (failed > 0 && static_cast<int>(tries.size()) < s.max_tries && failed / passed > s.resolution) {
        const double r = std::sqrt(passed * failed);
        if (r <= 1.0 + 1e-9) break;
        (run(r).passed() ? passed : failed) = r;
    }
    // keep the largest ratio that passed; else the smallest drop
    const Try* best = nullptr;
    for (const auto& t : tries) {
        if (!t.report) continue;
        if (!best) best = &t;
        else if (t.passed() != best->passed() ? t.passed() : (t.passed() ? t.ratio > best->ratio : t.drop() < best->drop())) best = &t;
    }
    if (!best) throw Error("--target-drop: no try could be compressed");
    if (!o.force && fs_std::exists(o.output)) throw Error(o.output.string() + " exists (give --force to overwrite)");
    fs_std::rename(best->path, o.output);
    files.paths.erase(std::find(files.paths.begin(), files.paths.end(), best->path));

    DropSearchResult res;
    res.report = *best->report;
    // the report is the kept try's, written where the user asked (its target ratio stays: it was used)
    res.report.options.output = o.output;
    res.report.options.force = o.force;
    res.report.options.cache = o.cache;
    res.gate = best->gate;
    res.passed = best->passed();
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& t : tries) {
        nlohmann::ordered_json j;
        j["ratio"] = t.ratio;
        if (t.report) {
            j["output_bytes"] = t.report->output_bytes;
            j["drop"] = t.drop();
            j["passed"] = t.passed();
        } else {
            j["error"] = "the budget cannot meet it";
        }
        list.push_back(j);
    }
    res.search = {{"target_drop", s.target_drop}, {"chosen_ratio", best->ratio}, {"passed", res.passed}, {"tries", list}};
    return res;
}

GatedCompress compress_gated(const CompressOptions& o, const GateOptions& g, bool max_drop_given,
                             const std::optional<DropSearchOptions>& search) {
    GatedCompress res;
    if (search) {
        if (max_drop_given) throw Error("--target-drop gates every try itself: give it without --max-drop");
        DropSearchResult found = compress_to_target_drop(o, g, *search);
        res.json = compress_to_json(found.report);
        res.json["gate"] = found.gate;
        res.json["target_drop"] = found.search;
        res.report = std::move(found.report);
        res.gated = true;
        res.passed = found.passed;
        return res;
    }
    res.gated = validate_gate_request(g, max_drop_given, o);
    res.report = compress(o);
    res.json = compress_to_json(res.report);
    if (res.gated) {
        res.json["gate"] = run_gate(g, o);
        res.passed = res.json["gate"]["passed"].get<bool>();
    }
    return res;
}

std::string target_drop_line(const nlohmann::ordered_json& search) {
    std::string s = "--target-drop " + fixed(search["target_drop"].get<double>(), 2) + ": kept " +
                    fixed(search["chosen_ratio"].get<double>(), 2) + "x" + (search["passed"].get<bool>() ? "" : " (none within it)") + " after " +
                    std::to_string(search["tries"].size()) + " tries:";
    for (const auto& t : search["tries"])
        s += " " + fixed(t["ratio"].get<double>(), 2) + "x " +
             (t.contains("error") ? std::string("unreachable") : fixed(t["drop"].get<double>(), 2) + (t["passed"].get<bool>() ? " ok" : " over")) + ";";
    s.pop_back();
    return s;
}

}  // namespace qcp
