#pragma once

// skynet.crypt: the cryptography Lua services need, from libcrypto. skynet's names and results
// where skynet has the function (digests and MACs are raw bytes), plus password storage:
//   sha1(s), sha256(s) -> 20 / 32 bytes; hmac_sha1(key, s), hmac_sha256(key, s) -> 20 / 32 bytes
//   base64encode(s) -> padded base64 (RFC 4648); base64decode(b64) -> bytes; white space is
//                      skipped, anything else malformed raises naming the byte
//   hexencode(s) -> lowercase hex; hexdecode(hex) -> bytes; raises on odd length or a non-hex byte
//   randomkey() -> 8 bytes, randombytes(n) -> n bytes, from the CSPRNG (RAND_bytes); raise when
//                  it fails
//   scrypt(password, salt, N, r, p, len) -> len bytes of EVP_PBE_scrypt; raises on parameters
//                                          libcrypto refuses (N not a power of 2, too much memory)
//   equals(a, b) -> boolean               comparison in time independent of where they differ
//                                          (CRYPTO_memcmp; the lengths are not secret)
// scrypt runs on the calling worker: keep its cost to a few milliseconds (docs/lua-api.md).
//
// Thread: any; every function is a pure computation or a read of the thread-safe CSPRNG.

#include <lua.hpp>

extern "C" int luaopen_skynet_crypt(lua_State* L);

namespace skyhive::crypt {

// Lua functions that other bindings offer under their own names (skynet.cluster.core); `who`
// names the function in their errors.
int random_bytes(lua_State* L, const char* who);  // (n) -> n bytes, 1 <= n <= 1024
int hmac_sha256(lua_State* L, const char* who);   // (key, data) -> 32 bytes
int equals(lua_State* L);                         // (a, b) -> boolean, as crypt.equals

}  // namespace skyhive::crypt
