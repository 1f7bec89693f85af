// Layer selection and per-layer settings for `qcp compress` (internal to pipeline).
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "qcp/ir/layers.hpp"
#include "qcp/pipeline/compress.hpp"

namespace qcp::plan {

// One --layer 'REGEX=key=value,...' rule.
struct LayerRule {
    std::string text;
    std::regex pattern;
    std::optional<int> rank;
    std::optional<double> rank_ratio;
    std::optional<int> bits;
    std::optional<std::string> method;
    std::optional<decomp::Granularity> granularity;
    std::optional<int64_t> centroids, pq_block;  // pq
};

// Parses and validates every rule; throws qcp::Error naming the bad rule.
std::vector<LayerRule> parse_rules(const std::vector<std::string>& texts);
std::vector<std::regex> parse_excludes(const std::vector<std::string>& texts);
// Every check of the options alone (no file read) that compress() makes before it loads the model,
// for the CLI and the Python module alike: one qcp::Error naming the flag as the CLI spells it.
// Options left at their defaults count as not given (--latency-reps 20 without --measure-latency
// passes).
void validate_options(const CompressOptions& o);

}  // namespace qcp::plan
