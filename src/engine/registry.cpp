// The one list of CPU kernels. Adding a kernel group means adding one line here.
#include "kernels/kernels.hpp"

namespace qcp::engine {

const KernelRegistry& cpu_kernels() {
    static const KernelRegistry registry = [] {
        KernelRegistry r;
        kernels::register_elementwise(r);
        kernels::register_shape_ops(r);
        kernels::register_conv(r);
        kernels::register_linear(r);
        kernels::register_pool(r);
        kernels::register_norm(r);
        kernels::register_reduce(r);
        kernels::register_resize_pad(r);
        kernels::register_quant(r);
        kernels::register_control_flow(r);
        return r;
    }();
    return registry;
}

}  // namespace qcp::engine
