#pragma once

// skynet.sharedata.core: read-only data trees that every service of the process reads in place,
// without a copy per service (the C++ side of lualib/skynet/sharedata.lua and
// services/lua/sharedatad.lua).
//
// A Version is an immutable tree built once from a Lua table: tables with an array part (keys
// 1..n) and an open-addressed hash part, strings stored back to back. It is reference counted
// (atomically: any service on any worker may hold one). An update links the old version to the
// new one (the old holds a reference on the new); a holder notices the link on its next read and
// moves to the newest version. Lua holds a reference through a "box" (full userdata, released by
// __gc or close); a reference travels between services as a light userdata pointer.
//
//   new(table) -> box                   builds a version; raises naming the path of a value or
//                                        key that cannot be shared (a function, a table inside
//                                        itself, nesting deeper than 64)
//   share(box) -> pointer               a new reference, to send to another service
//   box(pointer) -> box                 takes over a reference received from share
//   release(pointer)                    drops a reference received from share without boxing it
//   close(box)                          drops the box's reference now (later use raises)
//   link(old, new)                      old's readers move to new (once per version)
//   root(box) -> table                  the root table of the box's version
//   index(box, table, key) -> value, stale      nil, true when the box's version was updated
//   nextkey(box, table, key) -> key, value, stale    iteration (array part, then hash part)
//   len(box, table) -> n, stale         the array part's length
//   advance(box) -> table | nil         moves the box to the newest version; its root, or nil
//                                        when it was already the newest
//   copy(table) -> a plain Lua table (deep)
//   bytes(box) -> bytes the version occupies
//   versions() -> how many versions are alive in the process
// Tables are light userdata pointers into a version; they are valid while a box of that version
// is alive, and only lualib/skynet/sharedata.lua should handle them.
//
// Thread: any; a version never changes after new() returns, except its reference count and its
// link (both atomic).

#include <lua.hpp>

extern "C" int luaopen_skynet_sharedata_core(lua_State* L);
