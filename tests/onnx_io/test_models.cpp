// The shipped reference models: lossless round trip, checker, inspect totals.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>
#include <onnx/onnx_pb.h>

#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/inspect.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

class ReferenceModel : public ::testing::TestWithParam<std::string> {
protected:
    std::string path() const { return test::models_dir() + "/" + GetParam() + ".onnx"; }
};

TEST_P(ReferenceModel, RoundTripIsLosslessAndPassesChecker) {
    onnx::ModelProto original;
    ASSERT_TRUE(original.ParseFromString(test::read_text(path()))) << path();
    const ir::Model m = onnx_io::load_model(path());
    onnx::ModelProto saved;
    ASSERT_TRUE(saved.ParseFromString(onnx_io::serialize_model(m)));
    google::protobuf::util::MessageDifferencer diff;
    std::string report;
    diff.ReportDifferencesToString(&report);
    EXPECT_TRUE(diff.Compare(original, saved)) << report;
    EXPECT_TRUE(onnx_io::check_model(m));

    test::TempDir dir;
    onnx_io::save_model(m, dir / "copy.onnx");
    const ir::Model back = onnx_io::load_model(dir / "copy.onnx");
    ASSERT_EQ(back.graph.initializers.size(), m.graph.initializers.size());
    for (size_t i = 0; i < m.graph.initializers.size(); ++i)
        EXPECT_TRUE(back.graph.initializers[i].tensor == m.graph.initializers[i].tensor);
    EXPECT_EQ(back.graph.nodes.size(), m.graph.nodes.size());
}

TEST_P(ReferenceModel, InspectCountsEveryWeight) {
    // independent count straight from the protobuf dims
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromString(test::read_text(path())));
    int64_t float_elements = 0;
    for (const auto& t : proto.graph().initializer()) {
        if (t.data_type() != onnx::TensorProto::FLOAT) continue;
        int64_t n = 1;
        for (auto d : t.dims()) n *= d;
        if (n > 1) float_elements += n;
    }
    const InspectReport r = inspect({path()});
    EXPECT_EQ(r.params, float_elements);
    EXPECT_TRUE(r.macs_complete);
    EXPECT_GT(r.macs, 0);
    int64_t layer_sum = 0;
    for (const auto& l : r.layers) {
        EXPECT_GE(l.macs, 0) << l.name;
        layer_sum += l.params;
    }
    EXPECT_EQ(layer_sum, r.layer_params);
    // every weight and bias of these models belongs to a layer
    EXPECT_EQ(r.layer_params, r.params);
    ASSERT_EQ(r.inputs.size(), 1u);
    EXPECT_EQ(r.inputs[0].shape_str(), "(batch, 1, 28, 28)");
    ASSERT_EQ(r.outputs.size(), 1u);
    EXPECT_EQ(r.outputs[0].shape_str(), "(batch, 10)");
}

TEST_P(ReferenceModel, ShapeInferenceCoversEveryValue) {
    const ir::Model m = onnx_io::load_model(path());
    for (const auto& node : m.graph.nodes)
        for (const auto& out : node.outputs) {
            const ir::ValueInfo* vi = m.graph.shape_info(out);
            ASSERT_NE(vi, nullptr) << node.describe() << " output " << out;
            EXPECT_TRUE(vi->has_shape) << out;
            // only the batch dimension may be symbolic
            for (size_t d = 1; d < vi->dims.size(); ++d) EXPECT_TRUE(vi->dims[d].known()) << out << " dim " << d;
        }
}

INSTANTIATE_TEST_SUITE_P(Models, ReferenceModel,
                         ::testing::Values("fmnist_resnet", "fmnist_mlp", "fmnist_mobilenet"));

TEST(ReferenceModelMacs, ResnetStemMatchesHandCount) {
    const InspectReport r = inspect({test::models_dir() + "/fmnist_resnet.onnx"});
    ASSERT_FALSE(r.layers.empty());
    // stem: 3x3 conv 1 -> 32 channels, stride 1, pad 1 on 28x28: 32 * 28 * 28 * 1 * 9
    EXPECT_EQ(r.layers[0].weight_shape, Shape({32, 1, 3, 3}));
    EXPECT_EQ(r.layers[0].macs, 32 * 28 * 28 * 9);
    EXPECT_EQ(r.layers[0].unusable, "");
    ASSERT_EQ(r.can_factorize.size(), r.layers.size());
    EXPECT_EQ(r.can_factorize[0], r.reasons[0].empty());
}

}  // namespace
}  // namespace qcp
