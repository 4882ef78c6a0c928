// seri.pack / packstring / unpack round trips: every type and shape, the short forms, the C++
// entry points (seri_encode, seri_unpack_buffer), and what cannot be packed.
#include "lualib/native/seri.h"

#include <gtest/gtest.h>

#include <string>

#include "test/lualib/native/random_value.h"
#include "test/lualib/native/seri_fixture.h"

namespace skyhive::test {
namespace {

TEST_F(SeriTest, ScalarsRoundTripWithTheirSubtype) {
    EXPECT_EQ(run(R"(
        local values = {
            true, false, 0, 1, -1, 31, 32, -32, -33, 127, 128, -128, -129, 255, 256,
            32767, 32768, -32768, -32769, 65535, 65536, 2147483647, 2147483648, -2147483648,
            -2147483649, math.maxinteger, math.mininteger,
            0.0, 1.0, -1.5, 0.1, 1e308, -1e-308, 4.9e-324, math.huge, -math.huge, math.pi,
            "", "a", ("x"):rep(31), ("x"):rep(32), ("y"):rep(255), ("y"):rep(256),
            ("z"):rep(65535), ("z"):rep(65536), "\0", "a\0b\0", "\255\254\0\1",
        }
        for i, v in ipairs(values) do
            local p, size = seri.pack(v)
            local r = seri.unpack(p, size)
            seri.trash(p)
            assert(r == v, "value " .. i .. " changed")
            assert(math.type(r) == math.type(v), "value " .. i .. " changed subtype")
        end
        local nan = seri.unpack(seri.packstring(0/0))
        assert(nan ~= nan, "NaN did not survive")
        local negzero = seri.unpack(seri.packstring(-0.0))
        assert(1 / negzero == -math.huge, "-0.0 lost its sign")
        assert(select("#", seri.unpack(seri.packstring(nil))) == 1)
        assert(seri.unpack(seri.packstring(nil)) == nil)
    )"),
              "");
}

TEST_F(SeriTest, LightUserdataKeepsItsAddress) {
    int x = 0;
    lua_pushlightuserdata(L, &x);
    std::string bytes = packstring(lua_gettop(L), 1);
    int count = 0;
    ASSERT_EQ(unpack(bytes, &count), "");
    ASSERT_EQ(count, 1);
    EXPECT_EQ(lua_touserdata(L, -1), &x);
}

TEST_F(SeriTest, SmallValuesUseTheShortForms) {
    // The sizes the format documents; growth here means every message got bigger.
    EXPECT_EQ(run(R"(
        local function size(...) return #seri.packstring(...) end
        assert(size() == 0)
        assert(size(nil) == 1 and size(true) == 1)
        assert(size(0) == 1 and size(127) == 1 and size(-32) == 1)
        assert(size(-33) == 2 and size(-128) == 2 and size(128) == 3)
        assert(size(200) == 3 and size(40000) == 5 and size(1 << 40) == 9)
        assert(size(1.0) == 9)
        assert(size("abc") == 4 and size(("a"):rep(31)) == 32 and size(("a"):rep(32)) == 34)
        assert(size({}) == 1 and size({1, 2, 3}) == 4 and size({x = 1}) == 4)
        assert(size({1, x = 1}) == 7, size({1, x = 1}))
        local big = {}
        for i = 1, 100 do big[i] = i end
        assert(size(big) == 3 + 100)
        for i = 1, 200 do big["k" .. i] = true end
        -- header 4, array 100, keys "k1".."k200" 27 + 360 + 505, values 200
        assert(size(big) == 1196, size(big))
    )"),
              "");
}

TEST_F(SeriTest, PackAndPackstringAgreeAndTrashFrees) {
    EXPECT_EQ(run(R"(
        local ptr, size = seri.pack("set", "player:42", {gold = 100, items = {1, 2, 3}})
        assert(type(ptr) == "userdata" and math.type(size) == "integer")
        local s = seri.packstring("set", "player:42", {gold = 100, items = {1, 2, 3}})
        assert(#s == size)
        local a1, a2, a3 = seri.unpack(ptr, size)
        local b1, b2, b3 = seri.unpack(s)
        assert(a1 == "set" and b1 == "set" and a2 == b2 and deep_equal(a3, b3))
        assert(a3.gold == 100 and a3.items[3] == 3)
        seri.trash(ptr, size)
        seri.trash(s)
        seri.trash(nil)
        local empty, zero = seri.pack()
        assert(zero == 0 and select("#", seri.unpack(empty, zero)) == 0)
        assert(select("#", seri.unpack(nil)) == 0)
        assert(select("#", seri.unpack("")) == 0)
    )"),
              "");
}

TEST_F(SeriTest, MultipleValuesIncludingTrailingNils) {
    EXPECT_EQ(run(R"(
        local n = select("#", seri.unpack(seri.packstring(1, nil, "x", nil, nil)))
        assert(n == 5, n)
        local many = {}
        for i = 1, 5000 do many[i] = i * 3 end
        local back = table.pack(seri.unpack(seri.packstring(table.unpack(many))))
        assert(back.n == 5000)
        for i = 1, 5000 do assert(back[i] == i * 3) end
    )"),
              "");
}

TEST_F(SeriTest, TablesOfEveryShapeRoundTrip) {
    EXPECT_EQ(run(R"(
        local shared = {1, 2}
        local cases = {
            {},
            {1, 2, 3},
            {x = 1, y = "two", [true] = false, [1.5] = 3, [-7] = 4, [0] = 0},
            {1, nil, 3, nil, 5},
            {[1] = "a", [3] = "c", [1000000] = "far"},
            {1, 2, 3, name = "mixed", nested = {deeper = {deepest = {1, {2, {3}}}}}},
            {[{1, 2}] = "table key", [shared] = shared, again = shared},
            {"\0\1\2", [("k"):rep(300)] = ("v"):rep(70000)},
        }
        local seq = {}
        for i = 1, 1000 do seq[i] = i % 7 == 0 and {i} or i end
        cases[#cases + 1] = seq
        local hash = {}
        for i = 1, 1000 do hash["key" .. i] = i end
        cases[#cases + 1] = hash
        local reversed = {}
        for i = 20, 1, -1 do reversed[i] = i end
        cases[#cases + 1] = reversed
        local mixed = {}
        for i = 1, 40 do mixed[i] = i end
        for i = 1, 200 do mixed["h" .. i] = i end
        cases[#cases + 1] = mixed
        for i, t in ipairs(cases) do
            local r = seri.unpack(seri.packstring(t))
            assert(deep_equal(t, r), "case " .. i .. " changed")
            assert(r ~= t)
        end
        local r = seri.unpack(seri.packstring(cases[7]))
        assert(r[shared] == nil and deep_equal(r.again, shared), "shared table copied by value")
    )"),
              "");
}

TEST_F(SeriTest, MetatablesAreIgnoredAndRawContentsPacked) {
    EXPECT_EQ(run(R"(
        local t = setmetatable({1, 2, x = 3}, {
            __index = function() error("__index called") end,
            __pairs = function() error("__pairs called") end,
            __len = function() error("__len called") end,
        })
        local r = seri.unpack(seri.packstring(t))
        assert(getmetatable(r) == nil)
        assert(rawequal(r[1], 1) and r[2] == 2 and r.x == 3 and r[3] == nil)
    )"),
              "");
}

TEST_F(SeriTest, OneMegabyteStringsAndTablesRoundTrip) {
    EXPECT_EQ(run(R"(
        local chunk = {}
        for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
        local s = table.concat(chunk):rep(4096)
        assert(#s == 1 << 20)
        local ptr, size = seri.pack(s, {s, key = s})
        local a, b = seri.unpack(ptr, size)
        seri.trash(ptr)
        assert(a == s and b[1] == s and b.key == s)
        -- A small pack after a big one (whose buffer was handed over) still works.
        assert(seri.unpack(seri.packstring("small")) == "small")
    )"),
              "");
}

TEST_F(SeriTest, CyclesAreRejectedWithTheirPath) {
    std::string error = run(R"(
        local t = {x = {}}
        t.x.back = t
        seri.packstring(1, t)
    )");
    EXPECT_NE(error.find("pack: cycle in table (argument 2, at .x.back)"), std::string::npos)
        << error;
    error = run("local t = {} t[1] = t return seri.pack(t)");
    EXPECT_NE(error.find("pack: cycle in table (argument 1, at [1])"), std::string::npos) << error;
    error = run("local t = {} t[t] = 1 return seri.pack(t)");
    EXPECT_NE(error.find("pack: cycle in table (argument 1, at [table])"), std::string::npos)
        << error;
}

TEST_F(SeriTest, DepthIsLimitedTo32Tables) {
    EXPECT_EQ(run(R"(
        local function nest(n)
            local t = {}
            for _ = 2, n do t = {t} end
            return t
        end
        local ok = seri.unpack(seri.packstring(nest(32)))
        local depth = 0
        while ok do depth = depth + 1; ok = ok[1] end
        assert(depth == 32, depth)
        local good, err = pcall(seri.pack, nest(33))
        assert(not good and err:find("pack: table nested deeper than 32", 1, true), err)
    )"),
              "");
}

TEST_F(SeriTest, UnsupportedTypesNameTheTypeAndPlace) {
    std::string error = run("seri.pack(1, {cb = print})");
    EXPECT_NE(error.find("pack: cannot pack a function value (argument 2, at .cb)"),
              std::string::npos)
        << error;
    error = run("seri.pack(coroutine.create(print))");
    EXPECT_NE(error.find("pack: cannot pack a thread value (argument 1)"), std::string::npos)
        << error;
    error = run("seri.pack({list = {1, 2, io.stdout}})");
    EXPECT_NE(error.find("pack: cannot pack a full userdata value (argument 1, at .list[3])"),
              std::string::npos)
        << error;
    error = run("seri.pack({[\"odd key\\0\"] = print})");
    EXPECT_NE(error.find("at [\"odd key?\"]"), std::string::npos) << error;
    // A failed pack leaves the state usable and the next pack correct.
    EXPECT_EQ(run("assert(seri.unpack(seri.packstring('ok')) == 'ok')"), "");
}

TEST_F(SeriTest, EncodeAndUnpackBufferForCpp) {
    lua_pushstring(L, "call");
    lua_pushinteger(L, 42);
    lua_newtable(L);
    int top = lua_gettop(L);
    Result<Payload> payload = seri_encode(L, top - 2, top);
    ASSERT_TRUE(payload.ok()) << payload.error().message;
    EXPECT_EQ(lua_gettop(L), top);
    EXPECT_EQ(payload->view(), std::string("\x84"
                                           "call"
                                           "\x2a\xa0",
                                           7));

    lua_pushcfunction(L, [](lua_State* L) {
        auto* p = static_cast<Payload*>(lua_touserdata(L, 1));
        return seri_unpack_buffer(L, p->data(), p->size());
    });
    lua_pushlightuserdata(L, &*payload);
    ASSERT_EQ(lua_pcall(L, 1, LUA_MULTRET, 0), LUA_OK);
    ASSERT_EQ(lua_gettop(L), top + 3);
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(deep_equal(L, top - 2 + i, top + 1 + i));

    EXPECT_EQ(seri_encode(L, 2, 1)->size(), 0u);  // an empty range
    lua_pushcfunction(L, lua_deep_equal);
    Result<Payload> bad = seri_encode(L, lua_gettop(L), lua_gettop(L));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message, "pack: cannot pack a function value (argument 1)");
}

TEST_F(SeriTest, ModuleTableHasTheFourFunctions) {
    EXPECT_EQ(run(R"(
        for _, name in ipairs{"pack", "packstring", "unpack", "trash"} do
            assert(type(seri[name]) == "function", name)
        end
    )"),
              "");
}

TEST_F(SeriTest, RandomValuesRoundTrip) {
    RandomValue random(20240611);
    for (int round = 0; round < 3000; ++round) {
        int n = int(random.below(4)) + 1;
        for (int i = 0; i < n; ++i)
            random.push(L);
        expect_round_trip(n, "round " + std::to_string(round));
        if (HasFatalFailure()) return;
    }
}

}  // namespace
}  // namespace skyhive::test
