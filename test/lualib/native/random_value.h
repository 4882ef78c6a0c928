#pragma once

#include <lua.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace skyhive::test {

// Pushes random Lua values of every packable type, biased towards the edges of the encoding
// (integer width limits, string length limits, small-table limits, holes, odd keys). The same seed
// gives the same values. Thread: the thread running L.
class RandomValue {
  public:
    explicit RandomValue(uint64_t seed) : rng_(seed) {}

    // Pushes one value; tables nest at most `max_depth` levels.
    void push(lua_State* L, int max_depth = 4) {
        luaL_checkstack(L, 4, "random value");
        switch (below(max_depth > 0 ? 9 : 7)) {
            case 0:
                return lua_pushnil(L);
            case 1:
                return lua_pushboolean(L, int(below(2)));
            case 2:
            case 3:
                return lua_pushinteger(L, integer());
            case 4:
                return lua_pushnumber(L, number());
            case 5: {
                std::string s = bytes();
                return (void)lua_pushlstring(L, s.data(), s.size());
            }
            case 6:
                return lua_pushlightuserdata(L, reinterpret_cast<void*>(uintptr_t(rng_())));
            default:
                return push_table(L, max_depth - 1);
        }
    }

    uint64_t below(uint64_t n) { return rng_() % n; }

  private:
    lua_Integer integer() {
        static constexpr lua_Integer kEdges[] = {0,
                                                 1,
                                                 -1,
                                                 31,
                                                 32,
                                                 -32,
                                                 -33,
                                                 127,
                                                 128,
                                                 -128,
                                                 -129,
                                                 255,
                                                 256,
                                                 32767,
                                                 32768,
                                                 -32768,
                                                 -32769,
                                                 65535,
                                                 65536,
                                                 1000,
                                                 -1000,
                                                 INT32_MAX,
                                                 INT32_MIN,
                                                 int64_t(INT32_MAX) + 1,
                                                 int64_t(INT32_MIN) - 1,
                                                 std::numeric_limits<lua_Integer>::max(),
                                                 std::numeric_limits<lua_Integer>::min()};
        switch (below(3)) {
            case 0:
                return kEdges[below(std::size(kEdges))];
            case 1:
                return lua_Integer(below(300)) - 150;
            default:
                return lua_Integer(rng_() >> below(64));
        }
    }

    lua_Number number() {
        static const lua_Number kEdges[] = {0.0,
                                            -0.0,
                                            1.0,
                                            -1.5,
                                            0.1,
                                            1e300,
                                            std::numeric_limits<double>::denorm_min(),
                                            std::numeric_limits<double>::infinity(),
                                            -std::numeric_limits<double>::infinity(),
                                            std::numeric_limits<double>::quiet_NaN()};
        if (below(2) == 0) return kEdges[below(std::size(kEdges))];
        return std::ldexp(double(int64_t(rng_())), int(below(200)) - 160);
    }

    std::string bytes() {
        static constexpr size_t kLengths[] = {0, 1, 5, 31, 32, 255, 256, 300};
        size_t len = below(8) == 0 ? kLengths[below(std::size(kLengths))] : below(40);
        // Random bytes up front, then a fill: long strings test lengths, not content.
        std::string s(len, char('a' + below(26)));
        for (size_t i = 0; i < len && i < 64; ++i) {
            s[i] = char(below(4) == 0 ? rng_() : 'a' + below(26));
        }
        return s;
    }

    void push_key(lua_State* L) {
        switch (below(6)) {
            case 0:
            case 1: {
                std::string s = bytes();
                return (void)lua_pushlstring(L, s.data(), s.size() % 24);
            }
            case 2:
                return lua_pushinteger(L, integer());
            case 3:
                return lua_pushnumber(L, 0.5 + double(below(1000)));
            case 4:
                return lua_pushboolean(L, int(below(2)));
            default:
                return lua_pushlightuserdata(L, reinterpret_cast<void*>(uintptr_t(below(100))));
        }
    }

    void push_table(lua_State* L, int max_depth) {
        luaL_checkstack(L, 4, "random table");
        uint64_t shape = below(10);
        uint64_t narr = shape < 6 ? (below(8) == 0 ? below(200) : below(20)) : 0;
        uint64_t nhash = shape >= 3 ? (below(8) == 0 ? below(150) : below(20)) : 0;
        lua_createtable(L, int(narr), int(nhash));
        int t = lua_gettop(L);
        for (uint64_t i = 1; i <= narr; ++i) {
            push(L, max_depth > 0 && below(4) == 0 ? max_depth : 0);
            lua_rawseti(L, t, lua_Integer(i));  // nil leaves a hole
        }
        for (uint64_t i = 0; i < nhash; ++i) {
            if (max_depth > 0 && below(30) == 0) {
                push_table(L, 0);  // a table as a key
            } else {
                push_key(L);
            }
            push(L, max_depth > 0 && below(4) == 0 ? max_depth : 0);
            lua_rawset(L, t);
        }
    }

    std::mt19937_64 rng_;
};

}  // namespace skyhive::test
