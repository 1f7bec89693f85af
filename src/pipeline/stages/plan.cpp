// plan: per conv/FC layer, the options with every matching --layer rule applied in order, then
// --exclude, then the method's own plan (whether it applies and the sizes it would give).
#include "../methods/method.hpp"
#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/ir/graph.hpp"

namespace qcp::stages {

namespace {

int64_t dtype_bits_of(const ir::Graph& g, const std::string& value) {
    const Tensor* t = g.constant(value);
    return t ? dtype_traits(t->dtype()).bits : 32;
}

LayerPlan unplanned(const ir::Graph& g, const ir::Layer& l, const CompressOptions& o) {
    LayerPlan p;
    p.name = l.name;
    p.op = l.op;
    p.weight_shape = l.weight_shape;
    p.params_before = p.params_after = l.params;
    p.weight_bits_before = p.weight_bits_after = l.params * dtype_bits_of(g, l.weight);
    p.macs_before = p.macs_after = l.macs;
    p.method = o.method;
    p.bits = o.bits;
    p.granularity = o.granularity.value_or(decomp::Granularity::Tensor);
    p.centroids = o.centroids;
    p.subvector = o.pq_block;
    return p;
}

}  // namespace

void plan(Context& c) {
    const CompressOptions& o = c.options;
    for (size_t li = 0; li < c.layers.size(); ++li) {
        const ir::Layer& l = c.layers[li];
        LayerPlan p = unplanned(c.model.graph, l, o);
        const bool last_layer = li + 1 == c.layers.size() && c.layers.size() > 1;
        methods::PlanInput in{c.model.graph, l, o, last_layer, false, o.rank, o.rank_ratio};
        for (const auto& rule : c.rules) {
            if (!std::regex_search(l.name, rule.pattern)) continue;
            in.explicit_rule = true;
            if (rule.rank) in.rank = rule.rank, in.rank_ratio.reset();
            if (rule.rank_ratio) in.rank_ratio = rule.rank_ratio, in.rank.reset();
            if (rule.bits) p.bits = *rule.bits;
            if (rule.method) p.method = *rule.method;
            if (p.method == "mixed" && !o.target_ratio && !o.target_size && !o.target_macs)
                throw Error("--layer " + rule.text + ": method=mixed needs a --target-ratio, --target-size or --target-macs");
            if (rule.granularity) p.granularity = *rule.granularity;
            if (rule.centroids) p.centroids = *rule.centroids;
            if (rule.pq_block) p.subvector = *rule.pq_block;
        }
        bool excluded = false;
        for (const auto& ex : c.excludes) excluded = excluded || std::regex_search(l.name, ex);
        if (excluded) p.reason = "excluded by --exclude";
        else methods::find(p.method).plan(in, p);
        if (!p.selected) {
            p.method = "none";
            p.rank = 0;
            p.bits = 0;
        }
        c.report.layers.push_back(std::move(p));
    }
}

}  // namespace qcp::stages
