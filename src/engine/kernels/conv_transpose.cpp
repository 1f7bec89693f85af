// PLACEHOLDER: replaced by the owner of the conv group (registered from register_conv).
#include "kernels.hpp"
