#include "lualib/native/cluster_core.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "lualib/native/seri.h"

namespace skyhive {
namespace {

// A Lua state with `core` (skynet.cluster.core), `seri` (skynet.pack's module) and
// `take(ptr, size)`: the bytes of a malloc'd buffer as a string, freeing it (what the socket
// driver does with a frame).
class ClusterCoreLua : public ::testing::Test {
  protected:
    void SetUp() override {
        L = luaL_newstate();
        luaL_openlibs(L);
        luaL_requiref(L, "core", luaopen_skynet_cluster_core, 1);
        luaL_requiref(L, "seri", luaopen_skyhive_seri, 1);
        lua_pop(L, 2);
        lua_register(L, "take", [](lua_State* L) -> int {
            void* p = lua_touserdata(L, 1);
            lua_pushlstring(L, static_cast<const char*>(p), size_t(luaL_checkinteger(L, 2)));
            std::free(p);
            return 1;
        });
        run(R"lua(
            -- every frame of request/response joined into one string (a link's wire bytes)
            function wire(n, ...)
                local t = {}
                for i = 1, n do t[i] = take(select(2 * i - 1, ...)) end
                return table.concat(t), n
            end
        )lua");
    }
    void TearDown() override { lua_close(L); }

    void run(const char* code) {
        if (luaL_dostring(L, code) != LUA_OK) {
            ADD_FAILURE() << lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }

    lua_State* L = nullptr;
};

TEST_F(ClusterCoreLua, RequestAndResponseRoundTripThroughFeed) {
    run(R"lua(
        local a, b = core.link{}, core.link{}
        local w, n = wire(a:request(5, false, seri.pack(".world", 1, "two", {3})))
        assert(n == 1)
        local m, t = b:feed(w)
        assert(m == 1, m)
        assert(t[1] == 16 and t[2] == 5 and t[3] == 0 and t[4] == ".world", tostring(t[4]))
        local x, y, z = seri.unpack(t[5], t[6])
        assert(x == 1 and y == "two" and z[1] == 3)
        seri.trash(t[5], t[6])

        w = wire(a:request(6, true, seri.pack(0x10002, "push")))
        m, t = b:feed(w)
        assert(m == 1 and t[3] == 1 and t[4] == 0x10002)
        assert(seri.unpack(t[5], t[6]) == "push")
        seri.trash(t[5], t[6])

        -- an error text as a string, and an ok response with values
        w = wire(b:response(5, false, "boom"))
        w = w .. wire(b:response(6, true, seri.pack("r", 2)))
        m, t = a:feed(w)
        assert(m == 2)
        assert(t[1] == 17 and t[2] == 5 and t[3] == 0 and t[4] == nil)
        assert(take(t[5], t[6]) == "boom")
        assert(t[7] == 17 and t[8] == 6 and t[9] == 1)
        local r, two = seri.unpack(t[11], t[12])
        assert(r == "r" and two == 2)
        seri.trash(t[11], t[12])
    )lua");
}

TEST_F(ClusterCoreLua, LargeMessageIsSplitIntoPartsAndTheTableIsReused) {
    run(R"lua(
        local a, b = core.link{part = 1000}, core.link{part = 1000}
        local big = string.rep("0123456789", 1000)
        local frames = table.pack(a:request(1, false, seri.pack("@n", big)))
        assert(frames[1] == 11, frames[1])
        local t0
        for i = 1, frames[1] do
            local m, t = b:feed(take(frames[2 * i], frames[2 * i + 1]))
            t0 = t0 or t
            assert(t == t0, "one table for every call")
            if i < frames[1] then
                assert(m == 0)
                assert(b:pending() == 1)
            else
                assert(m == 1)
                assert(seri.unpack(t[5], t[6]) == big)
                seri.trash(t[5], t[6])
            end
        end
        assert(b:pending() == 0)
    )lua");
}

// An incomplete message is freed by reset and by the finalizer (the ASan build's leak check
// holds this), and a link reached after its finalizer is empty but usable.
TEST_F(ClusterCoreLua, IncompleteMessagesAreFreedByResetAndGc) {
    run(R"lua(
        local a = core.link{part = 100}
        local function first(n, ...)
            local f = take(...)
            for i = 2, n do take(select(2 * i - 1, ...)) end
            return f
        end
        local function big(session)
            return first(a:request(session, false, seri.pack(".x", string.rep("z", 1000))))
        end
        local b = core.link{part = 100}
        b:feed(big(1))
        local n, bytes = b:pending()
        assert(n == 1 and bytes > 1000, bytes)
        b:reset()
        assert(b:pending() == 0)
        b:feed(big(2))
        assert(b:pending() == 1)
        getmetatable(b).__gc(b)
        assert(b:pending() == 0)
        b:feed(big(3))
        b = nil
        collectgarbage()
    )lua");
}

TEST_F(ClusterCoreLua, ControlFramesAreStrings) {
    run(R"lua(
        local b = core.link{}
        local m, t = b:feed(string.pack(">I4B", 6, 1) .. "hello")
        assert(m == 1 and t[1] == 1 and t[5] == "hello" and t[6] == 5)
        assert(t[1] <= core.MAX_CONTROL and core.REQUEST == 16 and core.RESPONSE == 17)
    )lua");
}

TEST_F(ClusterCoreLua, ErrorsNameWhatIsWrong) {
    run(R"lua(
        local a = core.link{max_message = 100}
        local ok, err = pcall(a.request, a, 1, false, seri.pack(".x", string.rep("y", 200)))
        assert(not ok and err:find("message of 205 bytes is larger than cluster_max_message %(100%)"), err)
        ok, err = pcall(a.request, a, 1, false, seri.pack({}, 1))
        assert(not ok and err:find("the address is a table"), err)
        ok, err = pcall(a.request, a, -1, false, seri.pack(".x"))
        assert(not ok and err:find("session must be an integer"), err)
        ok, err = pcall(a.feed, a, string.pack(">I4B", 1, 99))
        assert(not ok and err == "cluster frame at byte 0: unknown kind 99", err)
        ok, err = pcall(core.link, {part = 0})
        assert(not ok and err:find("cluster.core.link: part must be a positive integer"), err)
        ok, err = pcall(core.link, {part = 300000})
        assert(not ok and err == "cluster.core.link: part must be from 1 to max_frame - 271 (261873)", err)
        ok, err = pcall(core.link, {max_message = "big"})
        assert(not ok and err:find("max_message must be a positive integer"), err)
    )lua");
}

TEST_F(ClusterCoreLua, PrefixPutsTheAddressInFront) {
    run(R"lua(
        local p, n = core.prefix(".svc", seri.pack(1, nil, "x"))
        local addr, one, none, x = seri.unpack(p, n)
        assert(addr == ".svc" and one == 1 and none == nil and x == "x")
        seri.trash(p, n)
        p, n = core.prefix(70000, seri.pack("y"))
        addr, x = seri.unpack(p, n)
        assert(addr == 70000 and x == "y")
        seri.trash(p, n)
        local ok, err = pcall(core.prefix, true, seri.pack(1))
        assert(not ok and err:find("the address is a boolean"), err)
    )lua");
}

// RFC 4231, test cases 1-4, 6 and 7 (case 5 is a truncated output).
TEST_F(ClusterCoreLua, HmacSha256MatchesRfc4231) {
    run(R"lua(
        local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
        local function check(key, data, want)
            local got = hex(core.hmac_sha256(key, data))
            assert(got == want, got .. " ~= " .. want)
        end
        check(string.rep("\x0b", 20), "Hi There",
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        check("Jefe", "what do ya want for nothing?",
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        check(string.rep("\xaa", 20), string.rep("\xdd", 50),
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")
        local key4 = ""
        for i = 1, 25 do key4 = key4 .. string.char(i) end
        check(key4, string.rep("\xcd", 50),
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")
        check(string.rep("\xaa", 131), "Test Using Larger Than Block-Size Key - Hash Key First",
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        check(string.rep("\xaa", 131),
              "This is a test using a larger than block-size key and a larger than block-size " ..
              "data. The key needs to be hashed before being used by the HMAC algorithm.",
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
        local r1, r2 = core.random(16), core.random(16)
        assert(#r1 == 16 and r1 ~= r2)
        assert(core.equal("abc", "abc") and not core.equal("abc", "abd") and not core.equal("a", "ab"))
    )lua");
}

}  // namespace
}  // namespace skyhive
