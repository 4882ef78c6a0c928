#pragma once

// What the files of skynet.socketdriver share (socket_driver.cpp, socket_driver_udp.cpp,
// socket_driver_info.cpp): the per-state binding, argument checks, and the way a Result crosses
// into Lua. Private to those files.
//
// Lua raises errors with longjmp, which skips C++ destructors. Each function checks its arguments
// first, keeps objects that own memory (Result, Payload, std::string) inside a scope (or a
// full-expression) that ends before anything is pushed, and copies error texts into plain char
// arrays on the way out.
//
// Thread: the thread running the Lua state, like every Lua C function.

#include <lua.hpp>

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <utility>

#include "core/handle.h"
#include "core/message.h"
#include "core/result.h"
#include "lualib/native/socket_driver.h"

namespace skyhive::socket_driver_lua {

// The per-state upvalue of every bound function: which driver, and which service owns new sockets.
struct Binding {
    SocketDriver* driver;
    Handle self;
};

inline Binding& binding(lua_State* L) {
    return *static_cast<Binding*>(lua_touserdata(L, lua_upvalueindex(1)));
}

inline net::SocketServer& server(lua_State* L) {
    return binding(L).driver->server();
}

int32_t check_id(lua_State* L, int arg);
int check_port(lua_State* L, int arg);
// The optional host at `arg` ("" when absent).
std::string_view opt_host(lua_State* L, int arg);

// An error text that survives a longjmp: no destructor to skip.
using ErrorText = char[512];

// Moves r's value into `out` and returns true, or copies its error text into `err` and returns
// false. Pass the call itself as `r`: the Result is then a temporary of the caller's
// full-expression and is gone before the caller pushes anything, e.g.
//   if (!take(server(L).connect(...), id, err)) return push_failure(L, err);
template <class T>
bool take(Result<T>&& r, T& out, ErrorText& err) {
    if (r) {
        out = std::move(r).value();
        return true;
    }
    std::snprintf(err, sizeof(ErrorText), "%s", r.error().message.c_str());
    return false;
}

// Pushes nil, text: the (nil, err) return of a failed call.
int push_failure(lua_State* L, const char* text);

// A message body for send: what lies at `arg` (and `arg + 1` for light userdata + size).
struct Body {
    enum Kind { string, table, adopt } kind = string;
    const char* data = nullptr;
    size_t size = 0;
};
// Checks the body at `arg`; raises a Lua error naming the argument when it is not one.
Body check_body(lua_State* L, int arg);
// Builds the payload; no Lua call in here can raise (check_body checked every element).
Payload to_payload(lua_State* L, int arg, const Body& b);

// The UDP functions (socket_driver_udp.cpp).
int l_udp(lua_State* L);
int l_udp_send(lua_State* L);
int l_udp_address(lua_State* L);
int l_udp_target(lua_State* L);
// resolve(host) -> { "ip", ... } in getaddrinfo's order; raises "resolve <host>: <why>". Blocks the
// calling thread for the lookup, like skynet's.
int l_resolve(lua_State* L);
// info([id]) (socket_driver_info.cpp).
int l_info(lua_State* L);

}  // namespace skyhive::socket_driver_lua
