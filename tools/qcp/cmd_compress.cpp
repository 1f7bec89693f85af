#include <iostream>
#include <optional>

#include "commands.hpp"
#include "fidelity_flags.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/gate.hpp"
#include "qcp/pipeline/table.hpp"
#include "qcp/pipeline/target_drop.hpp"
#include "qcp/quant/act_calib.hpp"

namespace qcp::cli {

void set_compress_command(CLI::App& app, int& exit_code) {
    std::string methods;
    for (const auto& m : compress_methods()) methods += std::string("\n  ") + m.name + ": " + m.description;
    auto* cmd = app.add_subcommand("compress", "Compress a model's conv/FC layers; methods:" + methods);
    struct State {
        CompressOptions opts;
        std::string granularity, format = "auto", report, bits = "4", activations = "none";
        double act_percentile = 0;
        double target_ratio = 0, target_macs = 0;
        bool json = false, correct = false, no_correct = false, asymmetric = false, symmetric = false;
        bool sensitivity = false, no_sensitivity = false;
        int rank = 0;
        double rank_ratio = 0;
        ImageFlags image;
        FidelityFlags fidelity;
        InputFlags inputs;
        std::vector<std::string> calib, gate_data;
        GateOptions gate;  // --max-drop with --data/--labels/--count
        DropSearchOptions drop_search;  // --target-drop
    };
    auto st = std::make_shared<State>();
    auto& o = st->opts;
    std::vector<std::string> method_list;
    for (const auto& m : compress_methods()) method_list.push_back(m.name);
    std::vector<std::string> act_calibs;
    for (int i = 0; i < quant::kActCalibCount; ++i) act_calibs.push_back(quant::act_calib_name(static_cast<quant::ActCalib>(i)));

    start_group(cmd, kGroupModel);
    cmd->add_option("model", o.model, "ONNX model to compress")->required();
    cmd->add_option("--opset", o.opset,
                    "Upgrade the model's default-domain opset to N (its own up to 21) first, e.g. 13 for per-channel "
                    "qdq or 21 for int4 qdq; checked in the engine against the original");
    add_input_flags(cmd, st->inputs);

    start_group(cmd, kGroupMethod);
    cmd->add_option("--method", o.method, std::string("Compression method (default ") + kDefaultMethod + "; see above)")
        ->check(CLI::IsMember(method_list));
    auto* rank_opt = cmd->add_option("--rank", st->rank, "CP rank of every factorized layer");
    auto* ratio_opt = cmd->add_option("--rank-ratio", st->rank_ratio,
                    "Rank from R = floor(numel / (Cout + Cin + kh*kw) / r): about 1/r of the weights (default 2)");
    cmd->add_option("--rank-align", o.rank_align,
                    "Round ranks from --rank-ratio or a budget down to a multiple of N (default 4: ORT's fast conv paths; 1: exact)");
    cmd->add_option("--bits", st->bits, "Bits of the factor (or weight) grid (default 4); auto with a --target-*: per layer from {2,3,4,6,8}")
        ->check(CLI::IsMember({"2", "3", "4", "5", "6", "7", "8", "auto"}));
    cmd->add_option("--granularity", st->granularity,
                    "One scale per factor / weight (tensor, the default for CP methods) or per output channel (channel, "
                    "the default for rtn/gptq)")
        ->check(CLI::IsMember({"tensor", "channel"}));
    cmd->add_option("--objective", o.objective,
                    "admm-cp: weight (||W - W'||, the default) or output (||X(W - W')|| on calibration inputs, needs --calib)")
        ->check(CLI::IsMember({"weight", "output"}));
    cmd->add_flag("--symmetric", st->symmetric, "rtn/gptq: symmetric signed grid (default)");
    cmd->add_flag("--asymmetric", st->asymmetric, "rtn/gptq: asymmetric grid with zero points");
    cmd->add_option("--block-size", o.block_size, "rtn/gptq: one scale per N input channels (Gemm/MatMul; opset 21 with --format qdq)");
    cmd->add_option("--damp", o.damp, "gptq: Hessian damping relative to its mean diagonal (default 0.01)");
    cmd->add_flag("--act-order", o.act_order, "gptq: quantize columns by decreasing Hessian diagonal");
    cmd->add_option("--centroids", o.centroids, "pq: codewords per layer, up to 256 with uint8 indices, 65536 with uint16 (default 256)");
    cmd->add_option("--pq-block", o.pq_block, "pq: sub-vector length (default kh*kw for k x k convs, 4 for 1x1 convs and FC)");
    cmd->add_option("--pq-iters", o.pq_iters, "pq: k-means iterations (default 50)");
    cmd->add_flag("!--no-pq-metric", o.pq_metric, "pq: plain weight k-means instead of distances through the calibration inputs");
    cmd->add_flag("!--no-pq-refit", o.pq_refit, "pq: skip the joint least-squares refit of the codewords");
    cmd->add_option("--layer", o.layer_rules, "Per-layer settings 'REGEX=rank=N,bits=B,method=M,rank-ratio=r,granularity=G,centroids=K,block=D'")
        ->take_all();
    cmd->add_option("--exclude", o.excludes, "Leave layers whose name matches REGEX uncompressed");
    cmd->add_option("--activations", st->activations,
                    "8: static uint8 activations (QDQ) around the compressed layers so ONNX Runtime runs int8 kernels "
                    "(needs --calib; writes qdq weights); none (default): weights only")
        ->check(CLI::IsMember({"8", "none"}));
    cmd->add_option("--act-calib", o.act_calib, "--activations: how activation ranges are chosen (default mse)")
        ->check(CLI::IsMember(act_calibs));
    auto* act_pct_opt = cmd->add_option("--act-percentile", st->act_percentile, "--act-calib percentile: keep P% of the values (default 99.99)");

    start_group(cmd, kGroupBudget);
    auto* tr_opt = cmd->add_option("--target-ratio", st->target_ratio,
                                   "Weights of the compressible layers X times smaller (the compression ratio: weight bits before / "
                                   "after over the layers the method may compress, those a budget leaves as they are included); "
                                   "ranks (and bits; with --method mixed, the method) chosen per layer by measured damage");
    add_size_option(cmd, "--target-size", o.target_size, "Output file of at most SIZE");
    auto* tm_opt = cmd->add_option("--target-macs", st->target_macs, "MACs at most F (0-1] times the input's (CP methods, mixed)");
    auto* td_opt = cmd->add_option("--target-drop", st->drop_search.target_drop,
                                   "The smallest model whose accuracy gate (as --max-drop, on --data) drops at most P points: "
                                   "--target-ratio searched, one compress and one evaluation per try");
    cmd->add_option("--target-drop-tries", st->drop_search.max_tries, "--target-drop: compress + evaluate at most N times (default 8)")
        ->needs(td_opt);
    cmd->add_flag("--sensitivity", st->sensitivity,
                  "Scale each layer's damage by its measured network-output sensitivity (needs --calib; default on for "
                  "--method mixed with --calib)");
    cmd->add_flag("--no-sensitivity", st->no_sensitivity, "Compare layers by their own output error only");
    cmd->add_option("--cache", o.cache, "Folder caching the budget's per-layer damage curves (reused by later targets)");
    start_group(cmd, kGroupCalibration);
    add_sources_option(cmd, "--calib", st->calib, "Calibration data (IDX, .npy, image folder): enables correction and the check");
    cmd->add_option("--calib-count", o.calib_count, "Calibration samples to use (default 1000)");
    cmd->add_option("--batch", o.batch, "Batch size for calibration runs (default 128)");
    cmd->add_flag("--correct", st->correct, "Per-channel statistics correction (default on with --calib)");
    cmd->add_flag("--no-correct", st->no_correct, "Disable the statistics correction");
    add_image_flags(cmd, st->image);

    start_group(cmd, kGroupCheck);
    auto* max_drop_opt = cmd->add_option("--max-drop", st->gate.max_drop,
                    "Accuracy gate: after writing, evaluate original and output on --data; exit 1 (output kept) when top-1 "
                    "(with --labels) or else the first output's agreement with the original (top-1 agreement, position "
                    "agreement or mask IoU, by its shape) fell by more than P percentage points");
    add_sources_option(cmd, "--data", st->gate_data, "Evaluation images for --max-drop (IDX, .npy, image folder; --size etc. apply)");
    cmd->add_option("--labels", st->gate.labels, "Evaluation labels for --max-drop (without: gate on agreement with the original)");
    cmd->add_option("--count", st->gate.count, "--max-drop: evaluate on the first N samples (default: all)");
    add_fidelity_flags(cmd, st->fidelity);

    start_group(cmd, kGroupOutput);
    cmd->add_option("-o,--output", o.output, "Compressed model to write");
    cmd->add_option("--format", st->format,
                    "auto (default: packed), packed (b-bit codes in bytes + a decoder ONNX Runtime folds at load; any opset), "
                    "qdq (integer weights + DequantizeLinear, for QDQ toolchains; opset >= 13) or float")
        ->check(CLI::IsMember({"auto", "packed", "qdq", "float"}));
    cmd->add_flag("--external-data", o.external_data, "Write weights to OUT.data beside the model");
    cmd->add_option("--report", st->report, "Also write the JSON report to FILE");
    cmd->add_flag("--json", st->json, "Print the JSON report instead of the table");
    cmd->add_flag("--dry-run", o.dry_run, "Print the plan (ranks, sizes, MACs) without solving");
    cmd->add_flag("--force", o.force, "Overwrite an existing output file");
    cmd->add_flag("--measure-latency", o.measure_latency,
                  "After writing, time each compressed layer (and the whole model) in qcp's engine before and after, "
                  "weight decoders folded as at load; per-layer 'latency' in the report (engine times, not ORT's)");
    cmd->add_option("--latency-reps", o.latency_reps, "--measure-latency: interleaved runs per median (default 20)");
    cmd->add_option("--latency-batch", o.latency_batch,
                    "--measure-latency: time on the first N --calib samples, else a random input of batch N (default 1)");

    start_group(cmd, kGroupRun);
    add_threads_option(cmd, o.threads);
    cmd->add_option("--seed", o.seed, "Seed for every random choice (default 0)");

    cmd->footer(
        "Examples:\n"
        "  # admm-cp at rank ratio 2 and 4 bits, corrected and checked on calibration images:\n"
        "  qcp compress model.onnx -o small.onnx --calib images/ --size 224x224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n"
        "  # round-to-nearest with bits chosen per layer from {2,3,4,6,8} so that the file fits in 5 MiB:\n"
        "  qcp compress model.onnx -o small.onnx --method rtn --bits auto --target-size 5M --calib images/\n"
        "  # gptq at 4 bits; exit 1 if top-1 on the validation set falls by more than 1 point:\n"
        "  qcp compress model.onnx -o small.onnx --method gptq --calib images/ --max-drop 1 --data val/ --labels val.txt\n"
        "  qcp compress model.onnx -o small.onnx --method mixed --calib images/ --target-drop 1 --data val/ --labels val.txt\n"
        "Global options (qcp -v|-q, --color, --max-memory) go before 'compress'.");
    // Checks of the values and of how options combine are the library's (compress(), validate_gate_request),
    // so that the Python module gives the same messages; here only what is about the flags themselves.
    cmd->callback([st, rank_opt, ratio_opt, tr_opt, tm_opt, td_opt, max_drop_opt, act_pct_opt, &exit_code] {
        auto& o = st->opts;
        if (tr_opt->count()) o.target_ratio = st->target_ratio;
        if (tm_opt->count()) o.target_macs = st->target_macs;
        if (st->sensitivity && st->no_sensitivity) throw Error("give --sensitivity or --no-sensitivity, not both");
        if (st->sensitivity || st->no_sensitivity) o.sensitivity = st->sensitivity;
        if (st->bits == "auto") o.bits_auto = true;
        else o.bits = std::stoi(st->bits);  // one of 2..8: IsMember above
        if (rank_opt->count()) o.rank = st->rank;
        if (ratio_opt->count()) o.rank_ratio = st->rank_ratio;
        if (!st->granularity.empty())  // the values: IsMember above
            o.granularity = st->granularity == "tensor" ? decomp::Granularity::Tensor : decomp::Granularity::Channel;
        if (st->symmetric && st->asymmetric) throw Error("give --symmetric or --asymmetric, not both");
        o.symmetric = !st->asymmetric;
        if (st->format == "qdq") o.format = rewrite::WeightFormat::Qdq;
        else if (st->format == "float") o.format = rewrite::WeightFormat::Float;
        else if (st->format == "packed") o.format = rewrite::WeightFormat::Packed;
        if (st->activations == "8") o.activations = 8;
        if (act_pct_opt->count()) o.act_percentile = st->act_percentile;
        if (st->correct && st->no_correct) throw Error("give --correct or --no-correct, not both");
        if (st->correct) o.correct = true;
        if (st->no_correct) o.correct = false;
        o.image = st->image.resolve();
        o.fidelity = st->fidelity.resolve();
        st->inputs.resolve(o);
        o.calib = data::Sources{st->calib};
        st->gate.data = data::Sources{st->gate_data};
        std::optional<DropSearchOptions> search;
        if (td_opt->count()) search = st->drop_search;
        if (!st->report.empty() && !o.dry_run && fs::same_file(st->report, o.output))
            throw Error("--report and -o name the same file");
        if (!st->report.empty()) fs::check_writable(st->report, true);  // before the work, not after
        const GatedCompress done = compress_gated(o, st->gate, max_drop_opt->count() > 0, search);
        const auto& json = done.json;
        if (!st->report.empty()) fs::write_file_atomic(st->report, json.dump(2) + "\n", true);
        std::string gate_text;
        if (done.gated) gate_text = gate_line(json["gate"]) + "\n";
        if (search) gate_text += target_drop_line(json["target_drop"]) + "\n";
        std::cout << (st->json ? json.dump(2) + "\n" : compress_to_table(done.report) + gate_text);
        const bool passed = done.passed;
        if (!passed)
            spdlog::error("accuracy gate failed: {} fell {:.2f} points ({:.2f}% -> {:.2f}%), more than {} {:g}; "
                          "output kept at {}", fidelity_metric_label(json["gate"]["metric"].get<std::string>()),
                          json["gate"]["drop"].get<double>(), json["gate"]["before"].get<double>(), json["gate"]["after"].get<double>(),
                          search ? "--target-drop" : "--max-drop", search ? search->target_drop : st->gate.max_drop, o.output.string());
        exit_code = passed ? 0 : kExitCheckFailed;
    });
}

}  // namespace qcp::cli
