/*
 * The C ABI of skyhive modules built as shared objects (what skynet calls a C service).
 *
 * A module named NAME is a file found through the node's cpath ("./cservice/?.so;...", '?'
 * replaced by NAME) that exports one function:
 *
 *     const struct skyhive_module_api* skyhive_module_NAME(void);
 *
 * returning a pointer to a static table whose abi_version is SKYHIVE_MODULE_ABI. NAME is made of
 * letters, digits and '_'. The host loads the file with dlopen(RTLD_NOW | RTLD_LOCAL) the first
 * time a service of that module is launched, and keeps it loaded while the node lives.
 *
 * Life of one instance (one per service):
 *   create()         any thread; may be NULL (the instance pointer is then NULL).
 *   init()           once, on the launching thread, before any message. Register the message
 *                    callback here with skyhive_callback(). Return 0 on success; anything else
 *                    aborts the launch (release() is still called).
 *   callback         on a worker for each message, never on two threads at once for one instance.
 *   signal()         on the monitor thread, possibly while the callback runs (a message taking too
 *                    long). May be NULL. Only do what is safe concurrently, e.g. set a flag.
 *   release()        exactly once for every instance create() returned, last. May be NULL.
 *
 * The host functions below take the context given to init() and may be called from init(), the
 * callback and release(), on the thread running them; never from signal() or other threads.
 * The host binary exports them (it is linked with -rdynamic), so a module links against nothing.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SKYHIVE_MODULE_ABI 1

/* Message types: the same numbers as skynet's PTYPE_*. */
#define SKYHIVE_PTYPE_TEXT 0
#define SKYHIVE_PTYPE_RESPONSE 1
#define SKYHIVE_PTYPE_CLIENT 3
#define SKYHIVE_PTYPE_SYSTEM 4
#define SKYHIVE_PTYPE_SOCKET 6
#define SKYHIVE_PTYPE_ERROR 7
#define SKYHIVE_PTYPE_LUA 10

/* The service an instance belongs to. Opaque; valid from init() until release() returns. */
struct skyhive_context;

/*
 * Called for each message. `msg` is `sz` bytes (NULL when sz is 0) owned by the host: return 0
 * and the host frees it after the call; return 1 to keep it, and later free() it or pass it to
 * skyhive_send_owned(). A request has session > 0 and expects a SKYHIVE_PTYPE_RESPONSE with the
 * same session sent back to `source`.
 */
typedef int (*skyhive_cb)(struct skyhive_context* ctx, void* ud, int type, int session,
                          uint32_t source, const void* msg, size_t sz);

struct skyhive_module_api {
    int abi_version; /* SKYHIVE_MODULE_ABI; checked before any other field is read */
    void* (*create)(void);
    int (*init)(void* inst, struct skyhive_context* ctx, const char* args);
    void (*release)(void* inst);
    void (*signal)(void* inst, int sig); /* sig 0: break the current message */
};

/* This service's handle. */
uint32_t skyhive_handle(struct skyhive_context* ctx);
/* Sets (or replaces) the message callback; `ud` is passed back on every call. */
void skyhive_callback(struct skyhive_context* ctx, void* ud, skyhive_cb cb);
/*
 * Sends a copy of msg[0, sz) to `dest`. Returns 0, or -1 when dest is not a live service (a
 * request, session > 0, then also comes back to this service as a SKYHIVE_PTYPE_ERROR), or when
 * type is outside 0..255 or sz does not fit in 32 bits.
 */
int skyhive_send(struct skyhive_context* ctx, uint32_t dest, int type, int session, const void* msg,
                 size_t sz);
/* Like skyhive_send, without the copy: takes msg (from malloc) in every case, failure included. */
int skyhive_send_owned(struct skyhive_context* ctx, uint32_t dest, int type, int session, void* msg,
                       size_t sz);
/* A fresh session number for a request from this service (positive). */
int skyhive_new_session(struct skyhive_context* ctx);
/* A SKYHIVE_PTYPE_RESPONSE with the returned session arrives after `centiseconds`. */
int skyhive_timeout(struct skyhive_context* ctx, int centiseconds);
/* The handle named by ".name" or ":0000000a", or 0 when there is none. */
uint32_t skyhive_query(struct skyhive_context* ctx, const char* address);
/* Centiseconds since the node started. */
uint64_t skyhive_now(struct skyhive_context* ctx);
/* Writes a line to the node's log, tagged with this service. */
void skyhive_log(struct skyhive_context* ctx, const char* text);
/* Retires this service after the current message (release() follows). */
void skyhive_exit(struct skyhive_context* ctx);

#ifdef __cplusplus
}
#endif
