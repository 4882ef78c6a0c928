#pragma once

// skyhive.redis.codec: the Lua side of RESP. The Redis client builds on these few functions.
//
// Commands
//   codec.format(nil, cmd, arg1, ...) -> string
//   codec.format(buf, cmd, arg1, ...) -> buf          (same as buf:format(cmd, arg1, ...))
//       Encodes one command as a RESP multibulk request (hiredis's formatter). Arguments:
//       strings (binary-safe, sent as they are), integers (decimal), floats ("%.17g", so 3.0 is
//       "3" and every double round-trips), and tables, whose elements 1..#t are spliced in as
//       arguments of the same kinds (so `format(nil, "MSET", {k1, v1, k2, v2})` works). Anything
//       else raises "redis command SET: argument #3 is a boolean (string or number expected)".
//   codec.buffer() -> buf
//       A command buffer: append many commands with buf:format(...), then send them in one write.
//       buf:take() -> lightuserdata, size     (nil, 0 when empty) hands the bytes over, malloc'd:
//                                             the receiver (socket send) frees them. buf is
//                                             empty afterwards.
//       buf:tostring() -> string              a copy; buf is unchanged
//       buf:count() -> n                      commands appended since the last take/reset
//       buf:full(n, bytes) -> boolean         at least n commands or that many bytes waiting
//       buf:reset()                           discards the contents
//       buf:append(cmd, arg1, ...) -> boolean appends when every word is a string or a number;
//                                             else false with buf unchanged (never raises: the
//                                             caller then uses buf:format)
//       #buf                                  bytes held
//
// Replies (decoding the socket thread's frames: the encoding of redis/reply_codec.h)
//   codec.decode(msg, size [, t [, hint]]) -> t, n, errors   msg: lightuserdata (borrowed)
//   codec.decode(str [, t [, hint]]) -> t, n, errors
//       Every reply of the payload, in order, into t[1..n] (a new table unless t is given, with
//       room for `hint` replies when that is given; entries past n are left alone). t.n = n as
//       well. `errors` counts the error replies among the n (not those nested in arrays).
//       Mapping:
//         status  +OK            -> string "OK"
//         error   -ERR x         -> error object: a table {err = "ERR x"} whose metatable is
//                                   codec.error_mt (__tostring gives the text); test with
//                                   codec.iserror(v) or getmetatable(v) == codec.error_mt.
//                                   The client raises it, or keeps it in a pipeline's results.
//         integer :5             -> integer 5
//         bulk    $3 foo         -> string "foo" (binary-safe)
//         null bulk / null array -> nil
//         array   *2 ...         -> table {v1, v2, n = 2}; n is always set, because elements may
//                                   be nil (holes) and then #t is not the count
//       Raises "redis decode: malformed reply payload at byte N" on bytes that are not a payload.
//
// Thread: every function runs on the thread that runs its lua_State, one call at a time.

#include <lua.hpp>

#include <cstddef>

namespace skyhive {

// Pushes one table {r1, ..., n = count} holding every reply of an encoded payload, and returns
// the count. Raises a Lua error on a malformed payload (call it from a lua_CFunction or under
// lua_pcall).
int redis_decode_buffer(lua_State* L, const void* data, size_t size);

}  // namespace skyhive

// {format, buffer, decode, iserror, error_mt}
extern "C" int luaopen_skyhive_redis_codec(lua_State* L);
