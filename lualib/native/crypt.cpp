#include "lualib/native/crypt.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

// Lua raises errors with longjmp (liblua is C): nothing here that needs a destructor may be alive
// when luaL_error runs, so buffers are plain arrays on the stack.

namespace {

// libcrypto's text for the last error into `buf`, for a Lua error message. -> buf
const char* last_error(char (&buf)[256]) {
    unsigned long e = ERR_get_error();
    if (e == 0) return "unknown error";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

constexpr lua_Integer kMaxBytes = 1024;  // enough for any salt or key; bounds the allocation

int l_randombytes(lua_State* L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= kMaxBytes, 1, "must be from 1 to 1024");
    unsigned char out[kMaxBytes];
    char err[256];
    if (RAND_bytes(out, int(n)) != 1)
        return luaL_error(L, "crypt.randombytes: RAND_bytes: %s", last_error(err));
    lua_pushlstring(L, reinterpret_cast<const char*>(out), size_t(n));
    return 1;
}

int l_scrypt(lua_State* L) {
    size_t plen = 0, slen = 0;
    const char* password = luaL_checklstring(L, 1, &plen);
    const char* salt = luaL_checklstring(L, 2, &slen);
    lua_Integer n = luaL_checkinteger(L, 3);
    lua_Integer r = luaL_checkinteger(L, 4);
    lua_Integer p = luaL_checkinteger(L, 5);
    lua_Integer len = luaL_checkinteger(L, 6);
    luaL_argcheck(L, n >= 2 && (n & (n - 1)) == 0, 3, "N must be a power of 2");
    luaL_argcheck(L, r >= 1 && r <= 64, 4, "r must be from 1 to 64");
    luaL_argcheck(L, p >= 1 && p <= 16, 5, "p must be from 1 to 16");
    luaL_argcheck(L, len >= 16 && len <= kMaxBytes, 6, "must be from 16 to 1024");
    unsigned char key[kMaxBytes];
    char err[256];
    // 0: libcrypto's default memory ceiling (32 MB), which also bounds N * r.
    if (EVP_PBE_scrypt(password, plen, reinterpret_cast<const unsigned char*>(salt), slen,
                       uint64_t(n), uint64_t(r), uint64_t(p), 0, key, size_t(len)) != 1)
        return luaL_error(L, "crypt.scrypt(N=%d, r=%d, p=%d): %s", int(n), int(r), int(p),
                          last_error(err));
    lua_pushlstring(L, reinterpret_cast<const char*>(key), size_t(len));
    return 1;
}

int l_equals(lua_State* L) {
    size_t alen = 0, blen = 0;
    const char* a = luaL_checklstring(L, 1, &alen);
    const char* b = luaL_checklstring(L, 2, &blen);
    lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
    return 1;
}

int l_hexencode(lua_State* L) {
    size_t len = 0;
    const auto* s = reinterpret_cast<const unsigned char*>(luaL_checklstring(L, 1, &len));
    static const char digits[] = "0123456789abcdef";
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, len * 2);
    for (size_t i = 0; i < len; ++i) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, len * 2);
    return 1;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int l_hexdecode(lua_State* L) {
    size_t len = 0;
    const char* s = luaL_checklstring(L, 1, &len);
    if (len % 2 != 0) return 0;
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, len / 2);
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i / 2] = char(hi << 4 | lo);
    }
    luaL_pushresultsize(&b, len / 2);
    return 1;
}

}  // namespace

extern "C" int luaopen_skynet_crypt(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"randombytes", l_randombytes}, {"scrypt", l_scrypt},       {"equals", l_equals},
        {"hexencode", l_hexencode},     {"hexdecode", l_hexdecode}, {nullptr, nullptr},
    };
    luaL_newlib(L, functions);
    return 1;
}
