// Tensor: a dense, row-major (C order) array that owns its bytes.
//
// Storage is little-endian raw bytes in the tensor's dtype, exactly as ONNX stores
// raw_data, so loading and saving never convert. Compute code asks for float32 with
// to_float32() (a copy for other dtypes) or maps float data in place with data<float>().
// int4/uint4 are packed two per byte, low nibble first (the ONNX layout).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qcp/core/dtype.hpp"
#include "qcp/core/memory.hpp"

namespace qcp {

using Shape = std::vector<int64_t>;

// An allocator whose resize() leaves new bytes uninitialised, so a kernel that overwrites its
// whole output does not pay for zero-filling it first. It also charges every allocation to the
// process-wide memory budget (core/memory.hpp), which throws qcp::Error past the limit.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = DefaultInitAllocator<U>;
    };
    DefaultInitAllocator() = default;
    template <typename U>
    DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
    T* allocate(size_t n) {
        memory::acquire(static_cast<uint64_t>(n) * sizeof(T));
        try {
            return std::allocator<T>::allocate(n);
        } catch (...) {
            memory::release(static_cast<uint64_t>(n) * sizeof(T));
            throw;
        }
    }
    void deallocate(T* p, size_t n) noexcept {
        std::allocator<T>::deallocate(p, n);
        memory::release(static_cast<uint64_t>(n) * sizeof(T));
    }
    template <typename U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};
using Bytes = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

// Number of elements of a shape; throws qcp::Error on negative dims or overflow past 2^62.
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(64, 32, 3, 3)"

class Tensor {
public:
    Tensor() = default;
    // Zero-filled tensor of the given dtype and shape.
    Tensor(DType dtype, Shape shape);
    // Copies raw little-endian bytes; their size must match dtype and shape.
    Tensor(DType dtype, Shape shape, const std::vector<uint8_t>& bytes);
    Tensor(DType dtype, Shape shape, const uint8_t* data, size_t size);
    // A tensor whose contents are unspecified: for outputs that are overwritten entirely.
    static Tensor uninitialized(DType dtype, Shape shape);

    static Tensor from_floats(Shape shape, const std::vector<float>& values);
    static Tensor from_int64s(Shape shape, const std::vector<int64_t>& values);
    static Tensor scalar_float(float v) { return from_floats({}, {v}); }

    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    int64_t dim(size_t i) const { return shape_.at(i); }
    size_t rank() const { return shape_.size(); }
    int64_t numel() const { return numel_; }
    size_t nbytes() const { return bytes_.size(); }
    bool empty() const { return numel_ == 0; }

    template <typename T> T* data() { return reinterpret_cast<T*>(bytes_.data()); }
    template <typename T> const T* data() const { return reinterpret_cast<const T*>(bytes_.data()); }
    const Bytes& bytes() const { return bytes_; }

    // Element i converted to double (any numeric dtype, int4 unpacked).
    double get_as_double(int64_t i) const;
    // A float32 copy (or this tensor's own copy if it is float32 already).
    Tensor to_float32() const;
    // Values as int64 (for shape-like tensors: int32/int64/uint8/...). Throws for float dtypes.
    std::vector<int64_t> to_int64_vector() const;
    std::vector<float> to_float_vector() const;
    // Converts float32 data to `dtype` (round-to-nearest-even for float16/bfloat16).
    Tensor cast_from_float32(DType dtype) const;

    // Same bytes, new shape of equal element count.
    Tensor reshaped(Shape shape) const;

    bool operator==(const Tensor& other) const {
        return dtype_ == other.dtype_ && shape_ == other.shape_ && bytes_ == other.bytes_;
    }

private:
    DType dtype_ = DType::Float32;
    Shape shape_;
    int64_t numel_ = 0;
    Bytes bytes_;
};

// IEEE half and bfloat16 conversions (round to nearest even; NaN stays NaN).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bfloat16_to_float(uint16_t b);
uint16_t float_to_bfloat16(float f);

}  // namespace qcp
