#pragma once

// The read buffers of skynet.socketdriver (buffer, push, pop, readall, readline, size, clear; see
// socket_driver.h). A buffer adopts whole data messages (the 16-byte event header and the bytes
// after it, one malloc'd block) and copies bytes only when Lua reads them.
//
// Thread: the thread running the Lua state, like everything in it.

#include <lua.hpp>

namespace skyhive {

// Adds the buffer functions to the table at the top of L's stack.
void socket_buffer_register(lua_State* L);

}  // namespace skyhive
