// Element types, numbered as ONNX's TensorProto.DataType so the loader can cast directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qcp {

enum class DType : int32_t {
    Undefined = 0,
    Float32 = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Float64 = 11,
    UInt32 = 12,
    UInt64 = 13,
    BFloat16 = 16,
    UInt4 = 21,
    Int4 = 22,
};

struct DTypeTraits {
    DType dtype;
    const char* name;    // ONNX spelling, lower case: "float", "int8", ...
    int bits;            // storage bits per element (4 for int4/uint4, 0 for string)
};

// Traits of a supported dtype; throws qcp::Error for codes qcp does not know.
const DTypeTraits& dtype_traits(DType t);
bool dtype_known(int32_t code);
inline const char* dtype_name(DType t) { return dtype_traits(t).name; }
// Bytes needed for `count` elements of `t` (int4 packs two per byte, rounded up); throws
// qcp::Error when that does not fit in size_t.
size_t dtype_bytes(DType t, size_t count);

}  // namespace qcp
