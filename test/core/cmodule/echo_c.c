/* A sample C module: echoes every message back to its sender. A request (session > 0) gets a
 * response with the same session and payload; an answer (response, error) is never echoed, so the
 * exchange ends there. The payload is forwarded without a copy.
 *
 * Two exported variables let tests observe what the host did: the args of the last init() and
 * how many instances were released. Tests read them on the thread that launched the service, or
 * after the node has stopped its workers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/skyhive_module.h"

char echo_c_last_args[64];
int echo_c_releases;

struct echo {
    uint32_t self;
};

static void* echo_create(void) {
    return calloc(1, sizeof(struct echo));
}

static int echo_message(struct skyhive_context* ctx, void* ud, int type, int session,
                        uint32_t source, const void* msg, size_t sz) {
    (void)ud;
    if (type == SKYHIVE_PTYPE_RESPONSE || type == SKYHIVE_PTYPE_ERROR) return 0;
    if (session > 0) type = SKYHIVE_PTYPE_RESPONSE;
    skyhive_send_owned(ctx, source, type, session, (void*)msg, sz);
    return 1; /* msg now belongs to skyhive_send_owned */
}

static int echo_init(void* inst, struct skyhive_context* ctx, const char* args) {
    struct echo* e = inst;
    snprintf(echo_c_last_args, sizeof echo_c_last_args, "%s", args);
    if (strcmp(args, "fail") == 0) return -1;
    e->self = skyhive_handle(ctx);
    skyhive_callback(ctx, e, echo_message);
    return 0;
}

static void echo_release(void* inst) {
    ++echo_c_releases;
    free(inst);
}

static const struct skyhive_module_api echo_api = {
    SKYHIVE_MODULE_ABI, echo_create, echo_init, echo_release, NULL,
};

const struct skyhive_module_api* skyhive_module_echo_c(void) {
    return &echo_api;
}
