#include "qcp/core/dtype.hpp"

#include <array>
#include <cstdint>

#include "qcp/core/error.hpp"

namespace qcp {
namespace {

constexpr std::array<DTypeTraits, 16> kDTypes = {{
    {DType::Float32, "float", 32},
    {DType::UInt8, "uint8", 8},
    {DType::Int8, "int8", 8},
    {DType::UInt16, "uint16", 16},
    {DType::Int16, "int16", 16},
    {DType::Int32, "int32", 32},
    {DType::Int64, "int64", 64},
    {DType::String, "string", 0},
    {DType::Bool, "bool", 8},
    {DType::Float16, "float16", 16},
    {DType::Float64, "double", 64},
    {DType::UInt32, "uint32", 32},
    {DType::UInt64, "uint64", 64},
    {DType::BFloat16, "bfloat16", 16},
    {DType::UInt4, "uint4", 4},
    {DType::Int4, "int4", 4},
}};

const DTypeTraits* find(int32_t code) {
    for (const auto& t : kDTypes)
        if (static_cast<int32_t>(t.dtype) == code) return &t;
    return nullptr;
}

}  // namespace

bool dtype_known(int32_t code) { return find(code) != nullptr; }

const DTypeTraits& dtype_traits(DType t) {
    const DTypeTraits* traits = find(static_cast<int32_t>(t));
    if (!traits) throw Error("unsupported tensor data type " + std::to_string(static_cast<int32_t>(t)));
    return *traits;
}

size_t dtype_bytes(DType t, size_t count) {
    const int bits = dtype_traits(t).bits;
    if (bits == 0) throw Error("string tensors have no fixed byte size");
    if (count > (SIZE_MAX - 7) / static_cast<size_t>(bits))
        throw Error(std::to_string(count) + " elements of " + dtype_traits(t).name + " do not fit in memory");
    return (count * static_cast<size_t>(bits) + 7) / 8;
}

}  // namespace qcp
