// What the fuzzers feed their bytes to, shared by the libFuzzer entry points (fuzz_onnx.cpp,
// fuzz_data.cpp) and by the regression test that replays every saved input in plain CI
// (test_fuzz_regressions.cpp). Each returns normally when the input is handled — accepted, or
// refused with qcp::Error; a crash, a sanitizer report, any other exception or a run past the
// fuzzer's time limit is a finding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qcp::fuzz {

// Process-wide setup: a 1 GiB memory budget (so a hostile size is refused by qcp's guard
// before libFuzzer's RSS limit kills the run) and a scratch folder for files.
void init();

// ONNX loader -> IR build -> shape inference -> layer discovery, graph queries, topological
// sort, and a serialize/parse round trip of what was accepted. External data resolves against
// a scratch folder holding one 4 KiB side file, `weights.bin`.
void onnx_input(const uint8_t* data, size_t size);

// Dataset readers: the bytes as a file (IDX, .npy, raw or gzip), opened for three model inputs
// and read in batches, and as a labels file; bytes that start like a PNG or JPEG are also
// decoded as a one-image folder. The input's size picks resize and layout options so that
// every code path of the sample transform is reached.
void data_input(const uint8_t* data, size_t size);

}  // namespace qcp::fuzz
