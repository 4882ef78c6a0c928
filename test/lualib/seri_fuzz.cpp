// libFuzzer target for unpack: arbitrary bytes must either raise an "unpack: " error or decode to
// values that pack again and decode equal. Each input gets a fresh lua_State, so every allocation
// is freed by the end of the run and libFuzzer's leak check stays meaningful (and cheap).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lualib/native/seri.h"
#include "test/lualib/deep_equal.h"

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

// Decodes under lua_pcall; leaves the values on the stack and returns their count, or -1 with
// the error message on the stack.
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
    int count = decode(L, data, size);
    if (count < 0) {
        const char* error = lua_tostring(L, -1);
        if (error == nullptr || std::strncmp(error, "unpack: ", 8) != 0) {
            fail("unexpected error", error != nullptr ? error : "(not a string)");
        }
        return;
    }
    skyhive::Result<skyhive::Payload> again = skyhive::seri_encode(L, 1, count);
    if (!again.ok()) fail("decoded values do not pack", again.error().message.c_str());
    int recount = decode(L, again->data(), again->size());
    if (recount != count) fail("re-packed values decode differently", "value count");
    for (int i = 1; i <= count; ++i) {
        if (!skyhive::test::deep_equal(L, i, count + i)) {
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
