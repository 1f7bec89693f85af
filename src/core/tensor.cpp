#include "qcp/core/tensor.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

#include "qcp/core/error.hpp"

namespace qcp {

int64_t shape_numel(const Shape& shape) {
    constexpr int64_t kMax = int64_t{1} << 62;
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw Error("negative dimension in shape " + shape_str(shape));
        if (d != 0 && n > kMax / d) throw Error("shape " + shape_str(shape) + " has too many elements");
        n *= d;
    }
    return n;
}

std::string shape_str(const Shape& shape) {
    std::ostringstream os;
    os << '(';
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << ')';
    return os.str();
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
    numel_ = shape_numel(shape_);
    bytes_.assign(dtype_bytes(dtype_, static_cast<size_t>(numel_)), 0);
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = std::move(shape);
    t.numel_ = shape_numel(t.shape_);
    t.bytes_.resize(dtype_bytes(dtype, static_cast<size_t>(t.numel_)));
    return t;
}

Tensor::Tensor(DType dtype, Shape shape, const std::vector<uint8_t>& bytes)
    : Tensor(dtype, std::move(shape), bytes.data(), bytes.size()) {}

Tensor::Tensor(DType dtype, Shape shape, const uint8_t* data, size_t size) : dtype_(dtype), shape_(std::move(shape)) {
    numel_ = shape_numel(shape_);
    const size_t want = dtype_bytes(dtype_, static_cast<size_t>(numel_));
    if (size != want)
        throw Error("tensor of shape " + shape_str(shape_) + " and type " + dtype_name(dtype_) + " needs " +
                    std::to_string(want) + " bytes, got " + std::to_string(size));
    bytes_.assign(data, data + size);
}

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
    Tensor t(DType::Float32, std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel()) throw Error("from_floats: value count mismatch");
    if (!values.empty()) std::memcpy(t.bytes_.data(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor Tensor::from_int64s(Shape shape, const std::vector<int64_t>& values) {
    Tensor t(DType::Int64, std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel()) throw Error("from_int64s: value count mismatch");
    if (!values.empty()) std::memcpy(t.bytes_.data(), values.data(), values.size() * sizeof(int64_t));
    return t;
}

namespace {

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace

double Tensor::get_as_double(int64_t i) const {
    const uint8_t* b = bytes_.data();
    switch (dtype_) {
        case DType::Float32: return load<float>(b + 4 * i);
        case DType::Float64: return load<double>(b + 8 * i);
        case DType::Float16: return half_to_float(load<uint16_t>(b + 2 * i));
        case DType::BFloat16: return bfloat16_to_float(load<uint16_t>(b + 2 * i));
        case DType::Int8: return static_cast<int8_t>(b[i]);
        case DType::UInt8: return b[i];
        case DType::Bool: return b[i] ? 1.0 : 0.0;
        case DType::Int16: return load<int16_t>(b + 2 * i);
        case DType::UInt16: return load<uint16_t>(b + 2 * i);
        case DType::Int32: return load<int32_t>(b + 4 * i);
        case DType::UInt32: return load<uint32_t>(b + 4 * i);
        case DType::Int64: return static_cast<double>(load<int64_t>(b + 8 * i));
        case DType::UInt64: return static_cast<double>(load<uint64_t>(b + 8 * i));
        case DType::UInt4: return (b[i / 2] >> (4 * (i % 2))) & 0xF;
        case DType::Int4: {
            const int nib = (b[i / 2] >> (4 * (i % 2))) & 0xF;
            return nib >= 8 ? nib - 16 : nib;
        }
        default: throw Error(std::string("cannot read elements of type ") + dtype_name(dtype_));
    }
}

Tensor Tensor::to_float32() const {
    if (dtype_ == DType::Float32) return *this;
    Tensor out(DType::Float32, shape_);
    float* dst = out.data<float>();
    for (int64_t i = 0; i < numel_; ++i) dst[i] = static_cast<float>(get_as_double(i));
    return out;
}

std::vector<float> Tensor::to_float_vector() const {
    std::vector<float> v(static_cast<size_t>(numel_));
    for (int64_t i = 0; i < numel_; ++i) v[i] = static_cast<float>(get_as_double(i));
    return v;
}

std::vector<int64_t> Tensor::to_int64_vector() const {
    std::vector<int64_t> v(static_cast<size_t>(numel_));
    if (dtype_ == DType::Int64) {
        if (numel_) std::memcpy(v.data(), bytes_.data(), bytes_.size());
        return v;
    }
    if (dtype_ == DType::Float32 || dtype_ == DType::Float64 || dtype_ == DType::Float16 ||
        dtype_ == DType::BFloat16)
        throw Error(std::string("expected an integer tensor, got ") + dtype_name(dtype_));
    for (int64_t i = 0; i < numel_; ++i) v[i] = static_cast<int64_t>(get_as_double(i));
    return v;
}

Tensor Tensor::cast_from_float32(DType dtype) const {
    if (dtype_ != DType::Float32) throw Error("cast_from_float32 needs a float32 tensor");
    if (dtype == DType::Float32) return *this;
    Tensor out(dtype, shape_);
    const float* src = data<float>();
    uint8_t* b = out.bytes_.data();
    for (int64_t i = 0; i < numel_; ++i) {
        const float f = src[i];
        switch (dtype) {
            case DType::Float64: { double d = f; std::memcpy(b + 8 * i, &d, 8); break; }
            case DType::Float16: { uint16_t h = float_to_half(f); std::memcpy(b + 2 * i, &h, 2); break; }
            case DType::BFloat16: { uint16_t h = float_to_bfloat16(f); std::memcpy(b + 2 * i, &h, 2); break; }
            case DType::Int8: b[i] = static_cast<uint8_t>(static_cast<int8_t>(std::nearbyint(f))); break;
            case DType::UInt8: b[i] = static_cast<uint8_t>(std::nearbyint(f)); break;
            case DType::Int32: { int32_t v = static_cast<int32_t>(std::nearbyint(f)); std::memcpy(b + 4 * i, &v, 4); break; }
            case DType::Int64: { int64_t v = static_cast<int64_t>(std::nearbyint(f)); std::memcpy(b + 8 * i, &v, 8); break; }
            default: throw Error(std::string("cannot cast float32 to ") + dtype_name(dtype));
        }
    }
    return out;
}

Tensor Tensor::reshaped(Shape shape) const {
    if (shape_numel(shape) != numel_)
        throw Error("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
    Tensor t = *this;
    t.shape_ = std::move(shape);
    return t;
}

float half_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: renormalise
            int e = -1;
            do { ++e; mant <<= 1; } while ((mant & 0x400) == 0);
            bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3FF) << 13;
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t absx = x & 0x7FFFFFFF;
    if (absx > 0x7F800000) return sign | 0x7E00;  // NaN
    if (absx >= 0x477FF000) return sign | 0x7C00;  // rounds to >= 65520: inf
    if (absx < 0x38800000) {  // below the smallest normal half: subnormal or zero
        const float a = std::fabs(f);
        return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));  // a / 2^-24
    }
    // normal: round mantissa to 10 bits, nearest even
    uint32_t mant = absx & 0x7FFFFF;
    uint32_t exp = (absx >> 23) - 127 + 15;
    uint32_t half = exp << 10 | mant >> 13;
    const uint32_t rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
    return sign | static_cast<uint16_t>(half);
}

float bfloat16_to_float(uint16_t b) {
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_bfloat16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);
    x += 0x7FFF + ((x >> 16) & 1);
    return static_cast<uint16_t>(x >> 16);
}

}  // namespace qcp
