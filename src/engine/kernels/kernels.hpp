// Kernel groups (internal to the engine). Each group's file registers its kernels explicitly;
// registry.cpp calls every group, so a kernel cannot be dropped by the static linker.
#pragma once

#include "qcp/engine/kernel.hpp"

namespace qcp::engine::kernels {

void register_elementwise(KernelRegistry& r);   // elementwise.cpp: Add..Erf, Mod, trig, activations, Clip, Max/Min/Sum/Mean
void register_shape_ops(KernelRegistry& r);     // shape_ops.cpp: Reshape, Transpose, Concat, Slice, Gather*, Scatter*, Tile, DepthToSpace, OneHot, ...
void register_conv(KernelRegistry& r);          // conv.cpp: Conv; conv_transpose.cpp: ConvTranspose
void register_linear(KernelRegistry& r);        // gemm.cpp: Gemm, MatMul, Det, RNN/GRU/LSTM, DFT/STFT/MelWeightMatrix
void register_pool(KernelRegistry& r);          // pool.cpp: MaxPool, AveragePool, Global*Pool, MaxUnpool, RoiAlign
void register_norm(KernelRegistry& r);          // norm.cpp: BatchNormalization, LayerNormalization, Softmax, LogSoftmax, Hardmax, LRN, MVN
void register_reduce(KernelRegistry& r);        // reduce.cpp: Reduce*, ArgMax/ArgMin, TopK, NonMaxSuppression, Unique
void register_resize_pad(KernelRegistry& r);    // resize_pad.cpp: Resize (nearest, linear, cubic), Upsample (9), Pad, GridSample
void register_quant(KernelRegistry& r);         // quant.cpp: DequantizeLinear, QuantizeLinear, DynamicQuantizeLinear
void register_control_flow(KernelRegistry& r);  // control_flow.cpp: If, Loop, Scan (sub-graphs)

}  // namespace qcp::engine::kernels
