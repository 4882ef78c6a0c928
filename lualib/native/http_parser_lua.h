#pragma once

// skyhive.http.parser: HTTP/1.x messages read incrementally by libhttp-parser (http_reader.h),
// for lualib/http/*.lua.
//
//   parser.new(kind, max_header, max_body) -> reader     kind "request" or "response"; limits
//                                                        in bytes (default 8192 and 1048576)
//   reader:next([bytes]) -> msg | nil | false, status, text
//       Appends bytes (if given) and parses: a table for the next whole message, nil when more
//       bytes are needed, or false, 400 | 413 | 431, why (the reader stays failed).
//       msg = { method =, url = (requests), status = (responses), version = "1.1",
//               header = { lowercase name = value (repeats joined with ", ") },
//               body = string, keep_alive = boolean, upgrade = boolean }
//   reader:eof()            the stream ended: next() may finish a response read to the close
//   reader:no_body()        the next response answers a HEAD request (no body)
//   reader:pending() -> n   bytes buffered and not yet parsed
//   reader:started() -> b   part of a message has arrived
//
// Thread: the owning service (a reader is a plain value of one Lua state).

#include <lua.hpp>

extern "C" int luaopen_skyhive_http_parser(lua_State* L);
