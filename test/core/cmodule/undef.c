/* A module that needs a host function the host does not have: dlopen(RTLD_NOW) must fail and the
 * loader must pass dlerror()'s text on. */
#include "core/skyhive_module.h"

void skyhive_no_such_function(void);

static int undef_init(void* inst, struct skyhive_context* ctx, const char* args) {
    (void)inst;
    (void)ctx;
    (void)args;
    skyhive_no_such_function();
    return 0;
}

static const struct skyhive_module_api undef_api = {SKYHIVE_MODULE_ABI, NULL, undef_init, NULL,
                                                    NULL};

const struct skyhive_module_api* skyhive_module_undef(void) {
    return &undef_api;
}
