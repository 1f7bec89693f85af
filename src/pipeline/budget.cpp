#include "budget.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "methods/method.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/core/sha256.hpp"

namespace qcp::budget {

namespace {

std::string cache_key(const CompressOptions& o, const std::string& sha, const std::vector<int>& bits) {
    std::ostringstream k;
    k << "qcp-budget-v3|" << sha << "|" << o.method << "|" << o.objective << "|" << o.calib.string() << "|" << o.calib_count
      << "|" << static_cast<int>(o.granularity.value_or(decomp::Granularity::Tensor)) << "|" << o.symmetric << "|"
      << o.block_size << "|" << o.seed << "|" << o.correct.value_or(!o.calib.empty()) << "|"
      << static_cast<int>(resolved_format(o)) << "|";
    for (int b : bits) k << b << ",";
    for (const auto& r : o.layer_rules) k << "|L" << r;
    for (const auto& r : o.excludes) k << "|X" << r;
    // how the inputs are fed (issue 14); nothing is added at the defaults, so older keys still match
    for (const auto& s : o.input_shapes) {
        k << "|S" << s.name;
        for (int64_t d : s.dims) k << "," << d;
    }
    for (const auto& v : o.input_values) k << "|V" << v.name << "=" << v.value;
    if (o.image.bgr) k << "|bgr";
    if (o.image.fit) k << "|fit" << o.image.pad;
    return k.str();
}

}  // namespace

namespace {

std::filesystem::path cached_values_file(const CompressOptions& o, const std::string& key) {
    return o.cache / (sha256_hex(reinterpret_cast<const uint8_t*>(key.data()), key.size()).substr(0, 32) + ".json");
}

}  // namespace

std::map<std::string, double> load_cached(const CompressOptions& o, const std::string& model_sha256, const std::string& what) {
    std::map<std::string, double> values;
    if (o.cache.empty()) return values;
    const std::string key = cache_key(o, model_sha256, {}) + "|" + what;
    const std::filesystem::path file = cached_values_file(o, key);
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return values;
    try {
        std::ifstream in(file);
        const nlohmann::json doc = nlohmann::json::parse(in);
        if (doc.value("key", "") != key) return values;
        for (const auto& [name, v] : doc.at("values").items()) values[name] = v.get<double>();
        spdlog::info("budget: {} from {}", what, file.string());
    } catch (const std::exception& e) {
        spdlog::warn("{}: unreadable budget cache ({}); measuring again", file.string(), e.what());
        values.clear();
    }
    return values;
}

void store_cached(const CompressOptions& o, const std::string& model_sha256, const std::string& what,
                  const std::map<std::string, double>& values) {
    if (o.cache.empty()) return;
    const std::string key = cache_key(o, model_sha256, {}) + "|" + what;
    std::error_code ec;
    std::filesystem::create_directories(o.cache, ec);
    if (ec) throw Error(o.cache.string() + ": cannot create the cache folder: " + ec.message());
    const nlohmann::json doc = {{"key", key}, {"values", values}};
    fs::write_file_atomic(cached_values_file(o, key), doc.dump(1) + "\n", true);
}

const std::vector<int>& auto_bits() {
    static const std::vector<int> bits = {2, 3, 4, 6, 8};
    return bits;
}

bool reduces(const Candidate& k, int64_t params_before, int64_t weight_bits_before, int64_t macs_before) {
    return k.weight_bits_after < weight_bits_before && k.stored_bits_after < weight_bits_before && k.params_after <= params_before &&
           (macs_before < 0 || k.macs_after <= macs_before);
}

std::vector<LayerCurve> measure_curves(const ir::Graph& g, const std::vector<ir::Layer>& layers,
                                       const std::vector<LayerPlan>& plans, const CompressOptions& o,
                                       const std::map<size_t, Eigen::MatrixXd>& hessians, const std::string& model_sha256,
                                       int64_t opset) {
    const std::vector<int> bits = o.bits_auto ? auto_bits() : std::vector<int>{o.bits};
    std::filesystem::path cache_file;
    nlohmann::json cached;
    if (!o.cache.empty()) {
        const std::string key = cache_key(o, model_sha256, bits);
        cache_file = o.cache / (sha256_hex(reinterpret_cast<const uint8_t*>(key.data()), key.size()).substr(0, 32) + ".json");
        std::error_code ec;
        if (std::filesystem::exists(cache_file, ec)) {
            try {
                std::ifstream in(cache_file);
                cached = nlohmann::json::parse(in);
                if (cached.value("key", "") != key) cached = nullptr;
            } catch (const std::exception& e) {
                spdlog::warn("{}: unreadable budget cache ({}); measuring again", cache_file.string(), e.what());
                cached = nullptr;
            }
        }
        if (!cached.is_null()) spdlog::info("budget: damage curves from {}", cache_file.string());
    }
    std::vector<LayerCurve> curves;
    std::vector<size_t> to_measure;  // indices into curves
    for (size_t i = 0; i < plans.size(); ++i) {
        const LayerPlan& p = plans[i];
        if (!p.selected) continue;
        LayerCurve c;
        c.layer = i;
        c.params_before = p.params_before;
        c.weight_bits_before = p.weight_bits_before;
        c.macs_before = p.macs_before;
        if (!cached.is_null() && cached["layers"].contains(p.name)) {
            for (const auto& e : cached["layers"][p.name])
                c.options.push_back({e.at("method"), e.at("rank"), e.at("bits"), e.at("centroids"), e.at("subvector"),
                                     e.at("params_after"), e.at("weight_bits_after"), e.at("macs_after"), e.at("stored_bits_after"),
                                     e.at("damage")});
        } else {
            to_measure.push_back(curves.size());
        }
        curves.push_back(std::move(c));
    }
    // The layers are measured in parallel, one layer per task (each layer's curve is computed
    // alone, on one thread, so the curves do not depend on the thread count), the costliest
    // first so that the last task is a cheap one. Cost: the products with the input Hessian and
    // its factorizations, ~ weights · inputs per output + inputs³.
    auto cost = [&](size_t c) {
        const Shape& s = layers[curves[c].layer].weight_shape;
        const double n = double(shape_numel(s));
        const double in = s.empty() ? 1.0 : std::min(n / double(std::max<int64_t>(s.front(), 1)), n / double(std::max<int64_t>(s.back(), 1)));
        return n * in + in * in * in;
    };
    std::stable_sort(to_measure.begin(), to_measure.end(), [&](size_t a, size_t b) { return cost(a) > cost(b); });
    // Constant(value_float(s)) weights are materialised into a cache on first read: read them
    // here, before the tasks read the graph at once.
    for (size_t c : to_measure) (void)g.constant(layers[curves[c].layer].weight);
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(static_cast<int64_t>(to_measure.size()), 1, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            LayerCurve& c = curves[to_measure[static_cast<size_t>(t)]];
            const LayerPlan& p = plans[c.layer];
            const methods::Method& method = methods::find(p.method);
            const auto it = hessians.find(c.layer);
            const Eigen::MatrixXd* h = it == hessians.end() || !method.budget_uses_hessian(o.objective) ? nullptr : &it->second;
            const std::vector<int> layer_bits = o.bits_auto || method.budget_chooses_bits() ? auto_bits() : std::vector<int>{p.bits};
            const auto tl = std::chrono::steady_clock::now();
            for (budget::Candidate& k : method.candidates({g, layers[c.layer], p, o, layer_bits, h, opset})) {
                if (k.method.empty()) k.method = p.method;
                if (reduces(k, p.params_before, p.weight_bits_before, p.macs_before)) c.options.push_back(std::move(k));
            }
            spdlog::log(log::progress_enabled() ? spdlog::level::info : spdlog::level::debug, "budget: {} settings measured for {} in {:.2f} s",
                        c.options.size(), p.name, std::chrono::duration<double>(std::chrono::steady_clock::now() - tl).count());
        }
    });
    if (!to_measure.empty())  // debug: a bad target's error must stay the only line (exit 2)
        spdlog::debug("budget: damage curves of {} layers measured in {:.1f} s", to_measure.size(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    nlohmann::json store = nlohmann::json::object();
    for (const LayerCurve& c : curves) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& k : c.options)
            arr.push_back({{"method", k.method}, {"rank", k.rank}, {"bits", k.bits}, {"centroids", k.centroids},
                           {"subvector", k.subvector}, {"params_after", k.params_after},
                           {"weight_bits_after", k.weight_bits_after}, {"macs_after", k.macs_after},
                           {"stored_bits_after", k.stored_bits_after}, {"damage", k.damage}});
        store[plans[c.layer].name] = arr;
    }
    if (!cache_file.empty() && cached.is_null()) {
        std::error_code ec;
        std::filesystem::create_directories(o.cache, ec);
        if (ec) throw Error(o.cache.string() + ": cannot create the cache folder: " + ec.message());
        const nlohmann::json doc = {{"key", cache_key(o, model_sha256, bits)}, {"layers", store}};
        fs::write_file_atomic(cache_file, doc.dump(1) + "\n", true);
    }
    return curves;
}

std::vector<int> allocate(const std::vector<LayerCurve>& curves, Cost cost, double budget) {
    auto cost_of = [cost](const LayerCurve& c, int k) -> double {
        if (k < 0) return cost == Cost::Macs ? double(std::max<int64_t>(c.macs_before, 0)) : double(c.weight_bits_before);
        const Candidate& o = c.options[static_cast<size_t>(k)];
        switch (cost) {
            case Cost::Bits: return double(o.weight_bits_after);
            case Cost::StoredBits: return double(o.stored_bits_after);
            case Cost::Macs: return double(std::max<int64_t>(o.macs_after, 0));
        }
        return 0.0;
    };
    auto damage_of = [](const LayerCurve& c, int k) { return k < 0 ? 0.0 : c.options[static_cast<size_t>(k)].damage; };
    auto total = [&](const std::vector<int>& pick) {
        double s = 0;
        for (size_t l = 0; l < curves.size(); ++l) s += cost_of(curves[l], pick[l]);
        return s;
    };
    // λ-relaxation: each layer minimises damage + λ·cost on its own; a larger λ buys cheaper layers
    auto pick_for = [&](double lambda) {
        std::vector<int> pick(curves.size(), -1);
        for (size_t l = 0; l < curves.size(); ++l) {
            double best = damage_of(curves[l], -1) + lambda * cost_of(curves[l], -1);
            for (int k = 0; k < static_cast<int>(curves[l].options.size()); ++k) {
                const double v = damage_of(curves[l], k) + lambda * cost_of(curves[l], k);
                if (v < best) best = v, pick[l] = k;
            }
        }
        return pick;
    };
    std::vector<int> cheapest(curves.size(), -1);
    for (size_t l = 0; l < curves.size(); ++l)
        for (int k = 0; k < static_cast<int>(curves[l].options.size()); ++k)
            if (cost_of(curves[l], k) < cost_of(curves[l], cheapest[l])) cheapest[l] = k;
    if (total(cheapest) > budget)
        throw UnreachableTarget("the target cannot be met: the cheapest settings need " + std::to_string(int64_t(total(cheapest))) +
                    (cost == Cost::Macs ? " MACs" : " weight bits") + ", the budget is " + std::to_string(int64_t(budget)));
    std::vector<int> pick = pick_for(0);
    if (total(pick) > budget) {
        double lo = 0, hi = 1;
        while (total(pick_for(hi)) > budget && hi < 1e30) hi *= 4;
        for (int it = 0; it < 100; ++it) {
            const double mid = 0.5 * (lo + hi);
            (total(pick_for(mid)) > budget ? lo : hi) = mid;
        }
        pick = pick_for(hi);
        if (total(pick) > budget) pick = cheapest;
    }
    // greedy upgrades: spend what the relaxation left over where damage drops most per unit cost
    for (;;) {
        const double spent = total(pick);
        size_t best_l = 0;
        int best_k = -2;
        double best_gain = 0;
        for (size_t l = 0; l < curves.size(); ++l)
            for (int k = -1; k < static_cast<int>(curves[l].options.size()); ++k) {
                const double dc = cost_of(curves[l], k) - cost_of(curves[l], pick[l]);
                const double dd = damage_of(curves[l], pick[l]) - damage_of(curves[l], k);
                if (dd <= 0 || spent + dc > budget) continue;
                const double gain = dc > 0 ? dd / dc : std::numeric_limits<double>::infinity();
                if (gain > best_gain) best_gain = gain, best_l = l, best_k = k;
            }
        if (best_k == -2) break;
        pick[best_l] = best_k;
    }
    return pick;
}

}  // namespace qcp::budget
