// libFuzzer target for unpack: arbitrary bytes must either fail with an "unpack: " error (the
// same from seri_decode and from the raising unpack) or decode to values that pack again and
// decode equal. Each input gets a fresh lua_State, so every allocation
// is freed by the end of the run and libFuzzer's leak check stays meaningful (and cheap).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lualib/native/seri.h"
#include "test/lualib/native/deep_equal.h"

namespace {

struct Bytes {
    const void* data;
    size_t size;
};

int unpack_bytes(lua_State* L) {
    const auto* bytes = static_cast<const Bytes*>(lua_touserdata(L, 1));
    lua_pop(L, 1);
    return skyhive::seri_unpack_buffer(L, bytes->data, bytes->size);
}

// Decodes through the raising entry point under lua_pcall; leaves the values on the stack and
// returns their count, or -1 with the error message on the stack.
int decode(lua_State* L, const void* data, size_t size) {
    int top = lua_gettop(L);
    Bytes bytes{data, size};
    lua_pushcfunction(L, unpack_bytes);
    lua_pushlightuserdata(L, &bytes);
    if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) return -1;
    return lua_gettop(L) - top;
}

[[noreturn]] void fail(const char* what, const char* detail) {
    std::fprintf(stderr, "seri_fuzz: %s: %s\n", what, detail);
    std::abort();
}

void check(lua_State* L, const uint8_t* data, size_t size) {
    skyhive::Result<int> count = skyhive::seri_decode(L, data, size);
    if (!count.ok()) {
        const std::string& error = count.error().message;
        if (error.rfind("unpack: ", 0) != 0) fail("unexpected error", error.c_str());
        if (lua_gettop(L) != 0) fail("a failed decode left values on the stack", error.c_str());
        if (decode(L, data, size) >= 0 || error != lua_tostring(L, -1)) {
            fail("unpack and seri_decode disagree", error.c_str());
        }
        return;
    }
    int n = *count;
    skyhive::Result<skyhive::Payload> again = skyhive::seri_encode(L, 1, n);
    if (!again.ok()) fail("decoded values do not pack", again.error().message.c_str());
    if (decode(L, again->data(), again->size()) != n) {
        fail("re-packed values decode differently", "value count");
    }
    for (int i = 1; i <= n; ++i) {
        if (!skyhive::test::deep_equal(L, i, n + i)) {
            fail("re-packed values decode differently", "a value changed");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    lua_State* L = luaL_newstate();
    check(L, data, size);
    lua_close(L);
    return 0;
}
