/* A module built for a future ABI: the host must refuse it before reading past abi_version. */
#include "core/skyhive_module.h"

static const struct skyhive_module_api badabi_api = {SKYHIVE_MODULE_ABI + 1, NULL, NULL, NULL,
                                                     NULL};

const struct skyhive_module_api* skyhive_module_badabi(void) {
    return &badabi_api;
}
