#include <iostream>

#include "commands.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/pipeline/compress.hpp"

namespace qcp::cli {

void set_compress_command(CLI::App& app, int& exit_code) {
    std::string methods;
    for (const auto& m : compress_methods()) methods += std::string("\n  ") + m.name + ": " + m.description;
    auto* cmd = app.add_subcommand("compress", "Compress a model's conv/FC layers; methods:" + methods);
    struct State {
        CompressOptions opts;
        std::string granularity, format = "qdq", report;
        bool json = false, correct = false, no_correct = false, asymmetric = false, symmetric = false;
        int rank = 0;
        double rank_ratio = 0;
        ImageFlags image;
    };
    auto st = std::make_shared<State>();
    auto& o = st->opts;
    cmd->add_option("model", o.model, "ONNX model to compress")->required();
    cmd->add_option("-o,--output", o.output, "Compressed model to write");
    cmd->add_option("--method", o.method, "admm-cp (default), cp-als, rtn or gptq");
    auto* rank_opt = cmd->add_option("--rank", st->rank, "CP rank of every factorized layer");
    auto* ratio_opt = cmd->add_option("--rank-ratio", st->rank_ratio,
                    "Rank from R = floor(numel / (Cout + Cin + kh*kw) / r): about 1/r of the weights (default 2)");
    cmd->add_option("--bits", o.bits, "Bits of the factor grid, 2 to 8 (default 4)");
    cmd->add_option("--granularity", st->granularity,
                    "tensor or channel: one scale per factor / weight (default for CP methods) or per output channel (default for rtn/gptq)");
    cmd->add_flag("--symmetric", st->symmetric, "rtn/gptq: symmetric signed grid (default)");
    cmd->add_flag("--asymmetric", st->asymmetric, "rtn/gptq: asymmetric grid with zero points");
    cmd->add_option("--block-size", o.block_size, "rtn/gptq: one scale per N input channels (opset 21, Gemm/MatMul)");
    cmd->add_option("--damp", o.damp, "gptq: Hessian damping relative to its mean diagonal (default 0.01)");
    cmd->add_flag("--act-order", o.act_order, "gptq: quantize columns by decreasing Hessian diagonal");
    cmd->add_option("--calib", o.calib, "Calibration data (IDX, .npy, image folder): enables correction and the check");
    cmd->add_option("--calib-count", o.calib_count, "Calibration samples to use (default 1000)");
    cmd->add_flag("--correct", st->correct, "Per-channel statistics correction (default on with --calib)");
    cmd->add_flag("--no-correct", st->no_correct, "Disable the statistics correction");
    cmd->add_option("--layer", o.layer_rules, "Per-layer settings 'REGEX=rank=N,bits=B,method=M,rank-ratio=r,granularity=G'")
        ->take_all();
    cmd->add_option("--exclude", o.excludes, "Leave layers whose name matches REGEX uncompressed");
    cmd->add_option("--format", st->format, "qdq (integer weights + DequantizeLinear, default) or float");
    cmd->add_flag("--external-data", o.external_data, "Write weights to OUT.data beside the model");
    cmd->add_option("--report", st->report, "Also write the JSON report to FILE");
    cmd->add_flag("--json", st->json, "Print the JSON report instead of the table");
    cmd->add_option("--threads", o.threads, "Threads (default: all cores)");
    cmd->add_option("--seed", o.seed, "Seed for every random choice (default 0)");
    cmd->add_option("--batch", o.batch, "Batch size for calibration runs (default 128)");
    cmd->add_flag("--dry-run", o.dry_run, "Print the plan (ranks, sizes, MACs) without solving");
    cmd->add_flag("--force", o.force, "Overwrite an existing output file");
    add_image_flags(cmd, st->image);
    cmd->callback([st, rank_opt, ratio_opt, &exit_code] {
        auto& o = st->opts;
        if (rank_opt->count()) o.rank = st->rank;
        if (ratio_opt->count()) o.rank_ratio = st->rank_ratio;
        if (!st->granularity.empty()) {
            if (st->granularity != "tensor" && st->granularity != "channel")
                throw Error("--granularity must be tensor or channel");
            o.granularity = st->granularity == "tensor" ? decomp::Granularity::Tensor : decomp::Granularity::Channel;
        }
        if (st->symmetric && st->asymmetric) throw Error("give --symmetric or --asymmetric, not both");
        o.symmetric = !st->asymmetric;
        if (st->format != "qdq" && st->format != "float") throw Error("--format must be qdq or float");
        o.format = st->format == "qdq" ? rewrite::WeightFormat::Qdq : rewrite::WeightFormat::Float;
        if (st->correct && st->no_correct) throw Error("give --correct or --no-correct, not both");
        if (st->correct) o.correct = true;
        if (st->no_correct) o.correct = false;
        o.image = st->image.resolve();
        if (!st->report.empty() && !o.dry_run && fs::same_file(st->report, o.output))
            throw Error("--report and -o name the same file");
        if (!st->report.empty()) fs::check_writable(st->report, true);  // before the work, not after
        const CompressReport r = compress(o);
        const auto json = compress_to_json(r);
        if (!st->report.empty()) fs::write_file_atomic(st->report, json.dump(2) + "\n", true);
        std::cout << (st->json ? json.dump(2) + "\n" : compress_to_table(r));
        exit_code = 0;
    });
}

}  // namespace qcp::cli
