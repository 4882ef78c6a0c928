#pragma once

// The fixture of the seri tests (seri_encode_test.cpp, seri_decode_test.cpp): a Lua state with
// the seri module loaded, on an allocator that counts, and helpers that pack, unpack and decode
// under lua_pcall.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "lualib/native/seri.h"
#include "test/lualib/native/deep_equal.h"

namespace skyhive::test {

// Lua allocator that counts live bytes and the peak, to show a forged message cannot make unpack
// allocate more than its own size suggests.
struct CountingAllocator {
    size_t live = 0;
    size_t peak = 0;

    static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
        auto* self = static_cast<CountingAllocator*>(ud);
        if (ptr == nullptr) osize = 0;
        if (nsize == 0) {
            std::free(ptr);
            self->live -= osize;
            return nullptr;
        }
        void* p = std::realloc(ptr, nsize);
        if (p != nullptr) {
            self->live = self->live - osize + nsize;
            if (self->live > self->peak) self->peak = self->live;
        }
        return p;
    }
};

inline int lua_deep_equal(lua_State* L) {
    lua_pushboolean(L, deep_equal(L, 1, 2));
    return 1;
}

class SeriTest : public ::testing::Test {
  protected:
    void SetUp() override {
        L = lua_newstate(CountingAllocator::alloc, &memory);
        luaL_openlibs(L);
        luaL_requiref(L, "seri", luaopen_skyhive_seri, 1);
        lua_pop(L, 1);
        lua_register(L, "deep_equal", lua_deep_equal);
    }
    void TearDown() override { lua_close(L); }

    // Runs a Lua chunk; returns its error message, or "" when it ran to the end.
    std::string run(const std::string& code) {
        int top = lua_gettop(L);
        std::string error;
        if (luaL_dostring(L, code.c_str()) != LUA_OK) error = lua_tostring(L, -1);
        lua_settop(L, top);
        return error;
    }

    // Calls f with the stack values [first, first + n) as arguments, under lua_pcall. Leaves the
    // results (LUA_MULTRET) or the error message on the stack; returns the lua_pcall status.
    int call(lua_CFunction f, int first, int n) {
        lua_pushcfunction(L, f);
        for (int i = 0; i < n; ++i)
            lua_pushvalue(L, first + i);
        return lua_pcall(L, n, LUA_MULTRET, 0);
    }

    // Unpacks bytes under lua_pcall; returns "" and leaves the values, or the error message.
    std::string unpack(const std::string& bytes, int* count) {
        int top = lua_gettop(L);
        lua_pushlstring(L, bytes.data(), bytes.size());
        int status = call(seri_unpack, lua_gettop(L), 1);
        if (status != LUA_OK) {
            std::string error = lua_tostring(L, -1);
            lua_settop(L, top);
            return error;
        }
        lua_remove(L, top + 1);
        *count = lua_gettop(L) - top;
        return "";
    }

    // Decodes with the non-raising C++ entry point; same contract as unpack() above.
    std::string decode(const std::string& bytes, int* count) {
        int top = lua_gettop(L);
        Result<int> n = seri_decode(L, bytes.data(), bytes.size());
        if (!n.ok()) {
            EXPECT_EQ(lua_gettop(L), top) << "a failed decode left values behind";
            return n.error().message;
        }
        EXPECT_EQ(lua_gettop(L), top + *n);
        *count = *n;
        return "";
    }

    // Packs the n values at first..first+n-1 with packstring; returns the bytes.
    std::string packstring(int first, int n) {
        EXPECT_EQ(call(seri_packstring, first, n), LUA_OK) << lua_tostring(L, -1);
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        std::string bytes(s, len);
        lua_pop(L, 1);
        return bytes;
    }

    // Checks pack/unpack of the n values on top of the stack, then pops them.
    void expect_round_trip(int n, const std::string& what) {
        int first = lua_gettop(L) - n + 1;
        std::string bytes = packstring(first, n);
        int count = 0;
        std::string error = unpack(bytes, &count);
        ASSERT_EQ(error, "") << what;
        ASSERT_EQ(count, n) << what;
        for (int i = 0; i < n; ++i) {
            ASSERT_TRUE(deep_equal(L, first + i, first + n + i)) << what << ", value " << i + 1;
        }
        lua_settop(L, first - 1);
    }

    lua_State* L = nullptr;
    CountingAllocator memory;
};

}  // namespace skyhive::test
