#include "lualib/native/crypt.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <climits>
#include <cstdint>
#include <cstdio>

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
    return skyhive::crypt::random_bytes(L, "crypt.randombytes");
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

// A byte for an error message: itself when printable, else its code. Static storage: read it
// before the next call.
const char* printable(char c) {
    static thread_local char text[8];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f)
        std::snprintf(text, sizeof text, "'%c'", c);
    else
        std::snprintf(text, sizeof text, "0x%02x", u);
    return text;
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
    if (len % 2 != 0)
        return luaL_error(L, "crypt.hexdecode: invalid hex text: odd length %d", int(len));
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, len / 2);
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) {
            size_t at = hi < 0 ? i : i + 1;
            return luaL_error(L, "crypt.hexdecode: invalid hex text: byte %d is %s", int(at + 1),
                              printable(s[at]));
        }
        out[i / 2] = char(hi << 4 | lo);
    }
    luaL_pushresultsize(&b, len / 2);
    return 1;
}

// Digests and MACs return the raw bytes, as skynet's crypt.sha1 and crypt.hmac_sha1 do.
int push_digest(lua_State* L, const EVP_MD* md, const char* name) {
    size_t len = 0;
    const char* text = luaL_checklstring(L, 1, &len);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    char err[256];
    if (EVP_Digest(text, len, out, &out_len, md, nullptr) != 1)
        return luaL_error(L, "crypt.%s: %s", name, last_error(err));
    lua_pushlstring(L, reinterpret_cast<const char*>(out), out_len);
    return 1;
}

// `name` is the Lua function's full name, for the error.
int push_hmac(lua_State* L, const EVP_MD* md, const char* name) {
    size_t key_len = 0, len = 0;
    const char* key = luaL_checklstring(L, 1, &key_len);
    const char* text = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, key_len <= size_t(INT_MAX), 1, "key too long");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    char err[256];
    if (HMAC(md, key, int(key_len), reinterpret_cast<const unsigned char*>(text), len, out,
             &out_len) == nullptr)
        return luaL_error(L, "%s: %s", name, last_error(err));
    lua_pushlstring(L, reinterpret_cast<const char*>(out), out_len);
    return 1;
}

int l_sha1(lua_State* L) {
    return push_digest(L, EVP_sha1(), "sha1");
}
int l_sha256(lua_State* L) {
    return push_digest(L, EVP_sha256(), "sha256");
}
int l_hmac_sha1(lua_State* L) {
    return push_hmac(L, EVP_sha1(), "crypt.hmac_sha1");
}
int l_hmac_sha256(lua_State* L) {
    return skyhive::crypt::hmac_sha256(L, "crypt.hmac_sha256");
}

// skynet's randomkey: 8 random bytes (from the CSPRNG here).
int l_randomkey(lua_State* L) {
    unsigned char out[8];
    char err[256];
    if (RAND_bytes(out, sizeof out) != 1)
        return luaL_error(L, "crypt.randomkey: RAND_bytes: %s", last_error(err));
    lua_pushlstring(L, reinterpret_cast<const char*>(out), sizeof out);
    return 1;
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// RFC 4648 section 4, with padding.
int l_base64encode(lua_State* L) {
    size_t len = 0;
    const auto* s = reinterpret_cast<const unsigned char*>(luaL_checklstring(L, 1, &len));
    size_t out_len = (len + 2) / 3 * 4;
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, out_len);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t n = len - i < 3 ? len - i : 3;
        uint32_t v = uint32_t(s[i]) << 16;
        if (n > 1) v |= uint32_t(s[i + 1]) << 8;
        if (n > 2) v |= s[i + 2];
        out[o++] = kBase64[v >> 18];
        out[o++] = kBase64[(v >> 12) & 63];
        out[o++] = n > 1 ? kBase64[(v >> 6) & 63] : '=';
        out[o++] = n > 2 ? kBase64[v & 63] : '=';
    }
    luaL_pushresultsize(&b, out_len);
    return 1;
}

int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Padded base64; white space (line breaks of wrapped text) is skipped. Anything else outside the
// alphabet, a missing or misplaced '=', or bits set past the end raise, naming the byte.
int l_base64decode(lua_State* L) {
    size_t len = 0;
    const auto* s = reinterpret_cast<const unsigned char*>(luaL_checklstring(L, 1, &len));
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, len / 4 * 3 + 3);
    size_t o = 0;
    int quad[4];
    int n = 0, pad = 0;
    size_t last = 0;  // 1-based position of the last byte read, for errors
    for (size_t i = 0; i < len; ++i) {
        unsigned char c = s[i];
        if (is_space(c)) continue;
        last = i + 1;
        if (pad > 0 && (c != '=' || n == 0))
            return luaL_error(L,
                              "crypt.base64decode: invalid base64 text: byte %d (%s) after "
                              "the padding",
                              int(i + 1), printable(char(c)));
        if (c == '=') {
            if (n < 2)
                return luaL_error(L, "crypt.base64decode: invalid base64 text: '=' at byte %d",
                                  int(i + 1));
            ++pad;
            quad[n++] = 0;
        } else {
            int v = base64_value(c);
            if (v < 0)
                return luaL_error(L, "crypt.base64decode: invalid base64 text: byte %d is %s",
                                  int(i + 1), printable(char(c)));
            quad[n++] = v;
        }
        if (n < 4) continue;
        uint32_t v = uint32_t(quad[0]) << 18 | uint32_t(quad[1]) << 12 | uint32_t(quad[2]) << 6 |
                     uint32_t(quad[3]);
        if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
            return luaL_error(L,
                              "crypt.base64decode: invalid base64 text: stray bits before "
                              "the padding at byte %d",
                              int(i + 1));
        out[o++] = char(v >> 16);
        if (pad < 2) out[o++] = char(v >> 8);
        if (pad < 1) out[o++] = char(v);
        n = 0;
        if (pad == 0) continue;
        pad = 3;  // the padding closed the text: only white space may follow
    }
    if (n != 0)
        return luaL_error(L,
                          "crypt.base64decode: invalid base64 text: truncated at byte %d "
                          "(length not a multiple of 4)",
                          int(last));
    luaL_pushresultsize(&b, o);
    return 1;
}

}  // namespace

namespace skyhive::crypt {

int random_bytes(lua_State* L, const char* who) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= kMaxBytes, 1, "must be from 1 to 1024");
    unsigned char out[kMaxBytes];
    char err[256];
    if (RAND_bytes(out, int(n)) != 1)
        return luaL_error(L, "%s: RAND_bytes: %s", who, last_error(err));
    lua_pushlstring(L, reinterpret_cast<const char*>(out), size_t(n));
    return 1;
}

int hmac_sha256(lua_State* L, const char* who) {
    return push_hmac(L, EVP_sha256(), who);
}

int equals(lua_State* L) {
    size_t alen = 0, blen = 0;
    const char* a = luaL_checklstring(L, 1, &alen);
    const char* b = luaL_checklstring(L, 2, &blen);
    lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
    return 1;
}

}  // namespace skyhive::crypt

extern "C" int luaopen_skynet_crypt(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"randombytes", l_randombytes},
        {"randomkey", l_randomkey},
        {"scrypt", l_scrypt},
        {"equals", skyhive::crypt::equals},
        {"hexencode", l_hexencode},
        {"hexdecode", l_hexdecode},
        {"base64encode", l_base64encode},
        {"base64decode", l_base64decode},
        {"sha1", l_sha1},
        {"sha256", l_sha256},
        {"hmac_sha1", l_hmac_sha1},
        {"hmac_sha256", l_hmac_sha256},
        {nullptr, nullptr},
    };
    luaL_newlib(L, functions);
    return 1;
}
