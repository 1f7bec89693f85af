// Converts every fixture model (ROOT/<group>/<case>/model.onnx) to each TARGET opset above its
// own and writes OUT/<group>__<case>@<target>.onnx, listing "<file>\t<case folder>" lines in
// OUT/manifest.tsv for tools/ort/opset_check.js. A conversion that fails, or one that
// opset_refusals.hpp lists and that does not, is a FAIL line and exit 1. For tools/opset_ort_check.sh:
//   opset_convert_fixtures ROOT OUT TARGET...
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/onnx_io/opset.hpp"
#include "onnx_io/opset_refusals.hpp"

namespace stdfs = std::filesystem;

int main(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: opset_convert_fixtures ROOT OUT TARGET...\n";
        return 2;
    }
    const stdfs::path root = argv[1], out = argv[2];
    std::vector<int64_t> targets;
    for (int i = 3; i < argc; ++i) targets.push_back(std::stoll(argv[i]));
    std::vector<stdfs::path> cases;
    for (const auto& e : stdfs::recursive_directory_iterator(root))
        if (e.is_regular_file() && e.path().filename() == "model.onnx") cases.push_back(e.path().parent_path());
    std::sort(cases.begin(), cases.end());
    stdfs::create_directories(out);
    std::ofstream manifest(out / "manifest.tsv");
    int converted = 0, refused = 0, failed = 0;
    for (const auto& dir : cases) {
        const std::string rel = stdfs::relative(dir, root).string();
        std::string name = rel;
        std::replace(name.begin(), name.end(), '/', '_');
        qcp::ir::Model original = qcp::onnx_io::load_model(dir / "model.onnx");
        // fixtures declare outputs without a shape, which onnx::checker refuses in a file:
        // ORT's outputs of the original say what they are
        for (size_t i = 0; i < original.graph.outputs.size(); ++i) {
            auto& o = original.graph.outputs[i];
            const stdfs::path out_npy = dir / ("out_" + std::to_string(i) + ".npy");
            if (o.has_shape || !stdfs::exists(out_npy)) continue;
            o.has_shape = true;
            const qcp::Tensor want = qcp::npy::load(out_npy);
            for (int64_t d : want.shape()) o.dims.push_back({d, ""});
        }
        for (int64_t target : targets) {
            if (original.opset("") >= target) continue;
            const std::string what = name + "@" + std::to_string(target);
            try {
                qcp::ir::Model m = original;
                qcp::onnx_io::convert_opset(m, target);
                if (qcp::test::opset_upgrade_refused(rel)) {
                    std::cout << "FAIL " << what << ": converted, but qcp should refuse it\n";
                    ++failed;
                    continue;
                }
                const stdfs::path file = out / (what + ".onnx");
                qcp::onnx_io::SaveOptions save;
                save.overwrite = true;
                qcp::onnx_io::save_model(m, file, save);
                manifest << file.string() << "\t" << dir.string() << "\n";
                ++converted;
            } catch (const qcp::Error& e) {
                if (qcp::test::opset_upgrade_refused(rel)) {
                    ++refused;
                    continue;
                }
                std::cout << "FAIL " << what << ": " << e.what() << "\n";
                ++failed;
            }
        }
    }
    std::cout << "opset_convert_fixtures: " << converted << " converted, " << refused << " refused as expected, " << failed
              << " failed\n";
    return failed ? 1 : 0;
}
