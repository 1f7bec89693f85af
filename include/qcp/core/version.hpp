#pragma once

namespace qcp {

constexpr const char* kVersion = "0.1.0";

}  // namespace qcp
