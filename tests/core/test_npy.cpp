#include <gtest/gtest.h>

#include "qcp/core/error.hpp"
#include "qcp/core/npy.hpp"

namespace qcp {
namespace {

TEST(Npy, MatchesNumpyBytes) {
    // np.save of np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32): 128-byte header
    const Tensor t = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
    const std::string bytes = npy::serialize(t);
    EXPECT_EQ(bytes.size(), 128u + 24u);
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    EXPECT_EQ(bytes.substr(10, dict.size()), dict);
    EXPECT_EQ(bytes[127], '\n');
    EXPECT_EQ(npy::parse(bytes, "t") , t);
    const Tensor v = Tensor::from_int64s({3}, {1, -2, 3});
    EXPECT_NE(npy::serialize(v).find("'shape': (3,)"), std::string::npos);
    EXPECT_EQ(npy::parse(npy::serialize(v), "v"), v);
    const Tensor s = Tensor::from_floats({}, {2.5f});
    EXPECT_EQ(npy::parse(npy::serialize(s), "s"), s);
}

TEST(Npy, BadFilesAreErrors) {
    const std::string good = npy::serialize(Tensor::from_floats({4}, {1, 2, 3, 4}));
    EXPECT_THROW(npy::parse("not npy at all", "x"), Error);
    EXPECT_THROW(npy::parse(good.substr(0, good.size() - 3), "x"), Error);
    std::string fortran = good;
    fortran.replace(fortran.find("False"), 5, "True ");
    EXPECT_THROW(npy::parse(fortran, "x"), Error);
    std::string dtype = good;
    dtype.replace(dtype.find("<f4"), 3, "<c8");
    EXPECT_THROW(npy::parse(dtype, "x"), Error);
}

}  // namespace
}  // namespace qcp
