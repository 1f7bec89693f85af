// libFuzzer entry point: ONNX loader + IR build + shape inference (see fuzz_targets.hpp).
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qcp::fuzz::onnx_input(data, size);
    return 0;
}
