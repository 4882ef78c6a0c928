#pragma once

// skynet.pack / skynet.unpack: Lua values <-> bytes, for messages between Lua services.
//
// Encoding (every multi-byte field little-endian; a message is a sequence of values, one per
// argument given to pack, with no header):
//
//   tag          meaning                      followed by
//   0x00..0x7f   integer 0..127               -
//   0xe0..0xff   integer -32..-1              -
//   0x80..0x9f   string, length tag & 0x1f    the bytes
//   0xa0..0xaf   table, array count tag&0xf   the array values, no hash part
//   0xb0..0xbf   table, hash count tag&0xf    that many key, value pairs, no array part
//   0xc0         nil
//   0xc1 / 0xc2  false / true
//   0xc3..0xc6   integer                      1 / 2 / 4 / 8 bytes, two's complement
//   0xc7         float                        8 bytes IEEE 754 binary64 (bit exact: -0.0, NaN)
//   0xc8         light userdata               8 bytes, the address
//   0xc9..0xcb   string                       length in 1 / 2 / 4 bytes, then the bytes
//   0xcc         table                        array count, hash count (LEB128 varints), then
//                                             the array values (keys 1..n), then key, value pairs
//   0xcd..0xdf   reserved: unpack rejects them
//
// The packer picks the shortest form. Integers and floats stay distinct (1 and 1.0 round-trip
// as themselves). A table's array part is the run of keys 1, 2, 3... that the table yields first;
// everything else goes to the hash part, so any table round-trips key for key. Metatables are not
// packed: a table with one is packed by its raw contents (no __index, __pairs or __len is called).
// A table may appear more than once (it is then packed once per appearance) but not inside
// itself: a cycle raises "pack: cycle in table". Nesting deeper than kSeriMaxDepth tables raises
// "pack: table nested deeper than 32". Functions, threads and full userdata raise an error naming
// the type. Every error names where the value sits: "(argument 2, at .items[3])".
//
// Unpack checks every length and count against the bytes that remain before reading or
// allocating, never reads outside the message, and raises "unpack: <what> at byte N" on any
// malformed input. Light userdata is only meaningful inside the process that packed it.

#include <lua.hpp>

#include <cstddef>

#include "core/message.h"
#include "core/result.h"

namespace skyhive {

inline constexpr int kSeriMaxDepth = 32;

// The functions below follow the skynet API and are lua_CFunctions. Each runs on whatever thread
// runs the calling lua_State (Thread: any, one call per lua_State at a time).

// pack(...) -> lightuserdata, size. The pointer is malloc'd; whoever ends up owning it frees it
// (Payload::adopt, or trash). No arguments give (NULL, 0). Raises on unpackable values.
int seri_pack(lua_State* L);

// packstring(...) -> string holding the same bytes as pack(...).
int seri_packstring(lua_State* L);

// unpack(ptr, size) or unpack(string) -> every value packed. unpack(nil) returns nothing. ptr is a
// light userdata, or a full userdata whose first `size` bytes hold the message. Does not free
// ptr. Raises on malformed input.
int seri_unpack(lua_State* L);

// trash(ptr [, size]): frees a pointer returned by pack and never handed to a message. A string
// or nil argument is ignored.
int seri_trash(lua_State* L);

// Decodes every value in data[0, size) and pushes them onto L; returns how many. Raises a Lua
// error on malformed input, so call it where a Lua error can be caught (inside a lua_CFunction or
// under lua_pcall).
int seri_unpack_buffer(lua_State* L, const void* data, size_t size);

// The same without raising on malformed input: pushes the values and returns their count, or
// pushes nothing and returns Error "unpack: <what> at byte N". Like any Lua allocation it can
// still raise a memory error.
Result<int> seri_decode(lua_State* L, const void* data, size_t size);

// Encodes the stack values first..last (absolute indices; last < first encodes nothing) into a
// Payload. Never raises and leaves the stack as it found it.
Result<Payload> seri_encode(lua_State* L, int first, int last);

}  // namespace skyhive

// {pack = ..., packstring = ..., unpack = ..., trash = ...}
extern "C" int luaopen_skyhive_seri(lua_State* L);
