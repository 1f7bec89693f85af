// libFuzzer entry point: dataset and label readers (see fuzz_targets.hpp).
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qcp::fuzz::data_input(data, size);
    return 0;
}
