// The shipped reference models through qcp's engine against ONNX Runtime's logits on the first
// 64 test images (fixtures from tools/fixtures/gen_models.py).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "qcp/core/npy.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr double kRelTol = 1e-5;

class ModelVsOrt : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelVsOrt, LogitsMatchAndEveryPredictionAgrees) {
    const std::filesystem::path dir(QCP_MODEL_FIXTURES_DIR);
    const Tensor x = npy::load(dir / "input_64.npy");
    const Tensor want = npy::load(dir / (GetParam() + ".npy"));
    const ir::Model model = onnx_io::load_model(test::models_dir() + "/" + GetParam() + ".onnx");
    const engine::Session session(model);
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        const Tensor got = session.run(x).at(0);
        ASSERT_EQ(got.shape(), want.shape());
        const int64_t classes = want.dim(1);
        for (int64_t s = 0; s < want.dim(0); ++s) {
            const float* g = got.data<float>() + s * classes;
            const float* w = want.data<float>() + s * classes;
            double e = 0, r = 0;
            for (int64_t c = 0; c < classes; ++c) {
                e += (double(g[c]) - w[c]) * (double(g[c]) - w[c]);
                r += double(w[c]) * w[c];
            }
            EXPECT_LE(std::sqrt(e), kRelTol * std::sqrt(r)) << "sample " << s << " threads " << threads;
            EXPECT_EQ(argmax(g, classes), argmax(w, classes)) << "sample " << s;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Models, ModelVsOrt, ::testing::Values("fmnist_resnet", "fmnist_mlp", "fmnist_mobilenet"));

}  // namespace
}  // namespace qcp
