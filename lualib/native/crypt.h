#pragma once

// skynet.crypt: the cryptography Lua services need, from libcrypto. So far, what password
// storage needs:
//   randombytes(n) -> n bytes from the CSPRNG (RAND_bytes); raises when it fails
//   scrypt(password, salt, N, r, p, len) -> len bytes of EVP_PBE_scrypt; raises on parameters
//                                          libcrypto refuses (N not a power of 2, too much memory)
//   equals(a, b) -> boolean               comparison in time independent of where they differ
//                                          (CRYPTO_memcmp; the lengths are not secret)
//   hexencode(s) -> lowercase hex; hexdecode(hex) -> bytes, or nil when not hex
// scrypt runs on the calling worker: keep its cost to a few milliseconds (docs/lua-api.md).
//
// Thread: any; every function is a pure computation or a read of the thread-safe CSPRNG.

#include <lua.hpp>

extern "C" int luaopen_skynet_crypt(lua_State* L);
