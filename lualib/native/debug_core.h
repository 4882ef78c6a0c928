#pragma once

// skynet.debugcore: node-level figures for the debug console that skynet.core does not give.
//   allocator() -> {allocated, active, resident} | nil   jemalloc's totals in bytes; nil when
//                                                        the process does not run on jemalloc
//   rss() -> bytes                                       resident set size of the process
// (Service lists, per-service stats and memory, signals and the log level come from skynet.core:
// list, info, signal, loglevel; sockets from skynet.socketdriver's info.)
//
// Thread: any; every function is a read of process-wide counters.

#include <lua.hpp>

extern "C" int luaopen_skynet_debugcore(lua_State* L);
