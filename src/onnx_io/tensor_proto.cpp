#include "tensor_proto.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "qcp/core/error.hpp"

namespace qcp::onnx_io::detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "qcp reads ONNX raw_data as little-endian");

namespace stdfs = std::filesystem;

namespace {

std::string tensor_label(const onnx::TensorProto& p) { return "tensor '" + p.name() + "'"; }

// Resolves an external-data location, refusing anything that leaves the model's folder.
stdfs::path resolve_location(const std::string& location, const stdfs::path& base_dir, const std::string& label) {
    if (location.empty()) throw Error(label + ": external data has no location");
    const stdfs::path rel(location);
    if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
        throw Error(label + ": external data location '" + location + "' is absolute; it must be inside the model's folder");
    for (const auto& part : rel)
        if (part == "..")
            throw Error(label + ": external data location '" + location + "' escapes the model's folder");
    std::error_code ec;
    const stdfs::path base = stdfs::weakly_canonical(base_dir.empty() ? stdfs::path(".") : base_dir, ec);
    const stdfs::path full = stdfs::weakly_canonical(base / rel, ec);
    // a symlink inside the folder could still point elsewhere
    auto b = base.begin();
    auto f = full.begin();
    for (; b != base.end(); ++b, ++f)
        if (f == full.end() || *b != *f)
            throw Error(label + ": external data location '" + location + "' resolves outside the model's folder");
    return full;
}

// Reads straight into the tensor's own storage: a multi-gigabyte weight is held once.
Tensor read_external(const onnx::TensorProto& p, DType dtype, const Shape& shape, size_t want,
                     const stdfs::path& base_dir, std::vector<std::string>* files_read) {
    const std::string label = tensor_label(p);
    std::string location;
    int64_t offset = 0;
    int64_t length = -1;
    for (const auto& kv : p.external_data()) {
        try {
            if (kv.key() == "location") location = kv.value();
            else if (kv.key() == "offset") offset = std::stoll(kv.value());
            else if (kv.key() == "length") length = std::stoll(kv.value());
        } catch (const std::exception&) {
            throw Error(label + ": external data field '" + kv.key() + "' is not a number: '" + kv.value() + "'");
        }
    }
    const stdfs::path path = resolve_location(location, base_dir, label);
    if (offset < 0) throw Error(label + ": negative external data offset");
    if (length >= 0 && static_cast<uint64_t>(length) != want)
        throw Error(label + ": external data length " + std::to_string(length) + " does not match its shape (" +
                    std::to_string(want) + " bytes)");
    std::error_code ec;
    if (stdfs::is_directory(path, ec)) throw Error(label + ": external data location '" + location + "' is a folder");
    const auto file_size = stdfs::file_size(path, ec);
    if (ec) throw Error(label + ": external data file '" + location + "' not found");
    if (static_cast<uint64_t>(offset) > file_size || want > file_size - static_cast<uint64_t>(offset))
        throw Error(label + ": external data file '" + location + "' is too short (" + std::to_string(file_size) +
                    " bytes, need " + std::to_string(want) + " from byte " + std::to_string(offset) + ")");
    if (files_read && std::find(files_read->begin(), files_read->end(), path.string()) == files_read->end())
        files_read->push_back(path.string());
    Tensor t = Tensor::uninitialized(dtype, shape);
    std::ifstream in(path, std::ios::binary);
    in.seekg(offset);
    if (want && !in.read(reinterpret_cast<char*>(t.data<uint8_t>()), static_cast<std::streamsize>(want)))
        throw Error(label + ": short read from external data file '" + location + "'");
    return t;
}

template <typename Dst, typename Src>
std::vector<uint8_t> pack(const Src& values, size_t count, const std::string& label) {
    if (static_cast<size_t>(values.size()) != count)
        throw Error(label + ": has " + std::to_string(values.size()) + " values, its shape needs " + std::to_string(count));
    std::vector<uint8_t> bytes(count * sizeof(Dst));
    for (size_t i = 0; i < count; ++i) {
        const Dst v = static_cast<Dst>(values[static_cast<int>(i)]);
        std::memcpy(bytes.data() + i * sizeof(Dst), &v, sizeof(Dst));
    }
    return bytes;
}

// int4/uint4 in int32_data: one value per entry in older writers; pack two per byte.
std::vector<uint8_t> pack_nibbles(const google::protobuf::RepeatedField<int32_t>& values, size_t count,
                                  const std::string& label) {
    const size_t packed = (count + 1) / 2;
    std::vector<uint8_t> bytes(packed, 0);
    if (static_cast<size_t>(values.size()) == packed) {  // already two per entry
        for (size_t i = 0; i < packed; ++i) bytes[i] = static_cast<uint8_t>(values[static_cast<int>(i)]);
        return bytes;
    }
    if (static_cast<size_t>(values.size()) != count)
        throw Error(label + ": int4 data has " + std::to_string(values.size()) + " values, its shape needs " + std::to_string(count));
    for (size_t i = 0; i < count; ++i)
        bytes[i / 2] |= static_cast<uint8_t>((values[static_cast<int>(i)] & 0xF) << (4 * (i % 2)));
    return bytes;
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& p, const stdfs::path& base_dir, std::vector<std::string>* files_read) {
    const std::string label = tensor_label(p);
    if (!dtype_known(p.data_type()))
        throw Error(label + ": unknown data type " + std::to_string(p.data_type()));
    const DType dtype = static_cast<DType>(p.data_type());
    if (dtype == DType::String) throw Error(label + ": string tensors are not supported");
    if (p.has_segment()) throw Error(label + ": segmented tensors are not supported");
    Shape shape(p.dims().begin(), p.dims().end());
    int64_t numel = 0;
    try {
        numel = shape_numel(shape);
    } catch (const Error& e) {
        throw Error(label + ": " + e.what());
    }
    size_t want = 0;
    try {
        want = dtype_bytes(dtype, static_cast<size_t>(numel));
    } catch (const Error& e) {
        throw Error(label + ": " + e.what());
    }
    const size_t count = static_cast<size_t>(numel);

    if (p.data_location() == onnx::TensorProto::EXTERNAL) return read_external(p, dtype, shape, want, base_dir, files_read);
    if (p.has_raw_data()) {
        if (p.raw_data().size() != want)
            throw Error(label + ": has " + std::to_string(p.raw_data().size()) + " bytes of data, its shape " +
                        shape_str(shape) + " and type need " + std::to_string(want));
        const auto* b = reinterpret_cast<const uint8_t*>(p.raw_data().data());
        return Tensor(dtype, shape, b, want);
    }
    switch (dtype) {
        case DType::Float32: return Tensor(dtype, shape, pack<float>(p.float_data(), count, label));
        case DType::Float64: return Tensor(dtype, shape, pack<double>(p.double_data(), count, label));
        case DType::Int64: return Tensor(dtype, shape, pack<int64_t>(p.int64_data(), count, label));
        case DType::UInt32: return Tensor(dtype, shape, pack<uint32_t>(p.uint64_data(), count, label));
        case DType::UInt64: return Tensor(dtype, shape, pack<uint64_t>(p.uint64_data(), count, label));
        case DType::Int32: return Tensor(dtype, shape, pack<int32_t>(p.int32_data(), count, label));
        case DType::Int16: return Tensor(dtype, shape, pack<int16_t>(p.int32_data(), count, label));
        case DType::UInt16:
        case DType::Float16:
        case DType::BFloat16: return Tensor(dtype, shape, pack<uint16_t>(p.int32_data(), count, label));
        case DType::Int8: return Tensor(dtype, shape, pack<int8_t>(p.int32_data(), count, label));
        case DType::UInt8:
        case DType::Bool: return Tensor(dtype, shape, pack<uint8_t>(p.int32_data(), count, label));
        case DType::Int4:
        case DType::UInt4: return Tensor(dtype, shape, pack_nibbles(p.int32_data(), count, label));
        default: throw Error(label + ": unsupported data type " + std::string(dtype_name(dtype)));
    }
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto, bool with_data) {
    if (!name.empty()) proto->set_name(name);
    proto->set_data_type(static_cast<int32_t>(t.dtype()));
    for (int64_t d : t.shape()) proto->add_dims(d);
    if (with_data) proto->set_raw_data(t.bytes().data(), t.bytes().size());
}

}  // namespace qcp::onnx_io::detail
