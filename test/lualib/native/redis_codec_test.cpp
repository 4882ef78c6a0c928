#include "lualib/native/redis_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis/key_slot.h"
#include "redis/resp_reader.h"

namespace skyhive {
namespace {

// A Lua state with the codec loaded as global `codec`, plus `frames(resp)`: the framer's payload
// for some raw RESP, as a string, and `frames_ptr(resp)`: the same as lightuserdata, size (kept
// alive by the fixture, as a socket message's payload would be during dispatch).
class RedisCodecLua : public ::testing::Test {
  protected:
    void SetUp() override {
        L = luaL_newstate();
        luaL_openlibs(L);
        luaL_requiref(L, "codec", luaopen_skyhive_redis_codec, 1);
        lua_pop(L, 1);
        lua_pushlightuserdata(L, this);
        lua_pushcclosure(L, &RedisCodecLua::frames, 1);
        lua_setglobal(L, "frames");
        lua_pushlightuserdata(L, this);
        lua_pushcclosure(L, &RedisCodecLua::frames_ptr, 1);
        lua_setglobal(L, "frames_ptr");
    }
    void TearDown() override { lua_close(L); }

    static Payload frame(lua_State* L) {
        size_t n;
        const char* s = luaL_checklstring(L, 1, &n);
        redis::RespReader r;  // the framer's encoding, without the socket event's headroom
        EXPECT_TRUE(r.feed(s, n).ok());
        uint32_t count;
        return r.take(&count);
    }
    static int frames(lua_State* L) {
        Payload p = frame(L);
        lua_pushlstring(L, p.data(), p.size());
        return 1;
    }
    static int frames_ptr(lua_State* L) {
        auto* self = static_cast<RedisCodecLua*>(lua_touserdata(L, lua_upvalueindex(1)));
        self->kept_.push_back(frame(L));
        lua_pushlightuserdata(L, self->kept_.back().data());
        lua_pushinteger(L, self->kept_.back().size());
        return 2;
    }

    // Runs a chunk; its failure message (a Lua assert's text) becomes the test failure.
    void run(const char* code) {
        if (luaL_dostring(L, code) != LUA_OK) {
            ADD_FAILURE() << lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }

    lua_State* L = nullptr;
    std::vector<Payload> kept_;
};

TEST_F(RedisCodecLua, DecodeMapsEveryReplyType) {
    run(R"lua(
        local t, n = codec.decode(frames(
            "+OK\r\n-ERR boom\r\n:-7\r\n$3\r\na\0b\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n" ..
            "*4\r\n:1\r\n$-1\r\n*1\r\n+in\r\n-WRONGTYPE x\r\n"))
        assert(n == 9 and t.n == 9, "count " .. n)
        assert(t[1] == "OK")
        assert(codec.iserror(t[2]) and t[2].err == "ERR boom" and tostring(t[2]) == "ERR boom")
        assert(getmetatable(t[2]) == codec.error_mt)
        assert(math.type(t[3]) == "integer" and t[3] == -7)
        assert(t[4] == "a\0b" and #t[4] == 3)
        assert(t[5] == "")
        assert(t[6] == nil and t[7] == nil)
        assert(type(t[8]) == "table" and t[8].n == 0 and next(t[8], nil) == "n")
        local a = t[9]
        assert(a.n == 4 and a[1] == 1 and a[2] == nil and a[3].n == 1 and a[3][1] == "in")
        assert(codec.iserror(a[4]) and a[4].err == "WRONGTYPE x")
        assert(not codec.iserror(a) and not codec.iserror("ERR") and not codec.iserror(nil))
    )lua");
}

TEST_F(RedisCodecLua, DecodeFromPointerAndIntoAGivenTable) {
    run(R"lua(
        local ptr, size = frames_ptr("+a\r\n+b\r\n+c\r\n")
        assert(type(ptr) == "userdata")
        local mine = {"stale", "stale", "stale", "keep"}
        local t, n = codec.decode(ptr, size, mine)
        assert(t == mine and n == 3 and t.n == 3)
        assert(t[1] == "a" and t[2] == "b" and t[3] == "c" and t[4] == "keep")
        local empty, zero = codec.decode(ptr, 0)
        assert(zero == 0 and empty[1] == nil)
    )lua");
}

TEST_F(RedisCodecLua, DecodeRejectsMalformedPayloads) {
    run(R"lua(
        local good = frames("*2\r\n$5\r\nhello\r\n:1\r\n")
        for cut = 1, #good - 1 do
            local ok, err = pcall(codec.decode, good:sub(1, cut))
            assert(not ok and err:find("redis decode: malformed reply payload at byte", 1, true),
                   "cut " .. cut .. ": " .. tostring(err))
        end
        assert(not pcall(codec.decode, "?"))
        -- An array claiming 2^32-1 children in a few bytes must fail, not allocate.
        assert(not pcall(codec.decode, "*\255\255\255\255_"))
        assert(not pcall(codec.decode, string.rep("*\1\0\0\0", 100) .. "_"))
    )lua");
}

TEST_F(RedisCodecLua, FormatEncodesArgumentsOfEveryKind) {
    run(R"lua(
        assert(codec.format(nil, "GET", "k") == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        assert(codec.format(nil, "SET", "k\0\r\n", "") == "*3\r\n$3\r\nSET\r\n$4\r\nk\0\r\n\r\n$0\r\n\r\n")
        local s = codec.format(nil, "X", 42, -7, 3.0, 0.1, 1e300, math.mininteger)
        assert(s == "*7\r\n$1\r\nX\r\n$2\r\n42\r\n$2\r\n-7\r\n$1\r\n3\r\n$3\r\n0.1\r\n" ..
                    "$6\r\n1e+300\r\n$20\r\n-9223372036854775808\r\n", s)
        assert(codec.format(nil, "MSET", {"a", 1, "b", 2}) ==
               codec.format(nil, "MSET", "a", 1, "b", 2))
        local many = {}
        for i = 1, 100 do many[i] = i end
        local t = codec.decode(frames(codec.format(nil, "RPUSH", "l", many)))[1]
        assert(t.n == 102 and t[1] == "RPUSH" and t[2] == "l" and t[3] == "1" and t[102] == "100")
    )lua");
}

TEST_F(RedisCodecLua, FormatNamesTheBadArgument) {
    run(R"lua(
        local ok, err = pcall(codec.format, nil, "SET", "k", true)
        assert(not ok and err:find("redis command SET: argument #4 is a boolean " ..
                                   "(string or number expected)", 1, true), err)
        ok, err = pcall(codec.format, nil, "MSET", {"a", {}})
        assert(not ok and err:find("redis command MSET: argument #3[2] is a table", 1, true), err)
        -- A failed call leaves nothing behind for the next one.
        assert(codec.format(nil, "PING") == "*1\r\n$4\r\nPING\r\n")
    )lua");
}

TEST_F(RedisCodecLua, BufferCoalescesCommands) {
    run(R"lua(
        local buf = codec.buffer()
        assert(#buf == 0 and buf:count() == 0)
        local ptr, size, commands = buf:take()
        assert(ptr == nil and size == 0 and commands == 0)
        assert(buf:format("SET", "a", 1) == buf)
        codec.format(buf, "GET", "a")
        assert(buf:count() == 2)
        local expect = codec.format(nil, "SET", "a", 1) .. codec.format(nil, "GET", "a")
        assert(buf:tostring() == expect and #buf == #expect)
        buf:reset()
        assert(#buf == 0 and buf:count() == 0)
        buf:format("PING")
        local p, n, commands = buf:take()
        assert(type(p) == "userdata" and n == 14 and commands == 1 and #buf == 0)
        assert(buf:count() == 0)
        _G.taken = p
    )lua");
    // take() handed over a malloc'd block; as the socket layer would, adopt and free it.
    lua_getglobal(L, "taken");
    Payload p = Payload::adopt(lua_touserdata(L, -1), 14);
    lua_pop(L, 1);
    EXPECT_EQ(p.view(), "*1\r\n$4\r\nPING\r\n");
}

// The buffer's methods tell a buffer by its metatable, held by each of them: anything else (a
// table dressed in the buffer's metatable, another userdata, a string) is refused by name, and
// nothing is read from it.
TEST_F(RedisCodecLua, BufferMethodsRefuseWhatIsNotABuffer) {
    run(R"lua(
        local buf = codec.buffer()
        local fake = setmetatable({}, getmetatable(buf))
        local other = io.stdout
        local calls = {
            function(x) return buf.format(x, "GET", "a") end,
            function(x) return buf.format_batch(x, { { "GET", "a" } }) end,
            function(x) return buf.take(x) end,
            function(x) return buf.count(x) end,
            function(x) return buf.full(x, 1, 1) end,
            function(x) return buf.tostring(x) end,
            function(x) return buf.reset(x) end,
            function(x) return buf.append(x, "GET", "a") end,
        }
        for i, call in ipairs(calls) do
            for _, x in ipairs({ fake, other, "buf", 7 }) do
                local ok, err = pcall(call, x)
                assert(not ok and err:find("skyhive.redis.buffer expected", 1, true),
                       "method " .. i .. " on a " .. type(x) .. ": " .. tostring(err))
            end
        end
        assert(buf:count() == 0 and buf:format("GET", "a") == buf and buf:count() == 1)
        -- codec.buffer_methods: the same functions, for callers that keep them as upvalues.
        local m = codec.buffer_methods
        for _, name in ipairs({ "format", "format_batch", "take", "count", "full", "tostring",
                                "reset", "append" }) do
            assert(m[name] == buf[name], name .. " is the buffer's own")
        end
        assert(m.append(buf, "GET", "b") == true and m.count(buf) == 2)
        assert(m.tostring(buf) == codec.format(nil, "GET", "a") .. codec.format(nil, "GET", "b"))
        local ok, err = pcall(m.append, fake, "GET", "b")
        assert(not ok and err:find("skyhive.redis.buffer expected", 1, true), tostring(err))
        -- A copy: changing it changes no buffer's methods.
        m.count = nil
        assert(buf:count() == 2 and codec.buffer().count ~= nil)
    )lua");
}

// append takes commands of strings and numbers as format does, and anything else not at all,
// without raising: the buffer is left as it was.
TEST_F(RedisCodecLua, AppendTakesFlatCommandsOnlyAndNeverRaises) {
    run(R"lua(
        local buf = codec.buffer()
        assert(buf:append("SET", "k", 42) == true and buf:append("GET", 1.5) == true)
        local expect = codec.format(nil, "SET", "k", 42) .. codec.format(nil, "GET", 1.5)
        assert(buf:tostring() == expect and buf:count() == 2)
        for _, bad in ipairs({ { "MSET", { "a", 1 } }, { "SET", "k", true }, { "SET", nil, "v" },
                               { {} }, {} }) do
            local ok, appended = pcall(buf.append, buf, table.unpack(bad, 1, 3))
            assert(ok and appended == false, "refused without raising")
            assert(buf:tostring() == expect and buf:count() == 2, "nothing of it kept")
        end
    )lua");
}

// A pipeline's commands are encoded word by word when none splices a list, and through the
// general path when one does; both give format()'s bytes, and a bad command anywhere leaves the
// buffer as it was.
TEST_F(RedisCodecLua, FormatBatchEqualsFormatAndIsAllOrNothing) {
    run(R"lua(
        local cmds = {
            {"SET", "k", "v"},
            {"SET", "n", 42, "PX", 1.5},
            {"MSET", {"a", 1, "b", 2.25}},
            {"GET", "k", "ignored", n = 2},
            {"DEL", "x", {"y", "z"}, "w"},
        }
        local buf = codec.buffer()
        buf:format("PING")
        assert(buf:format_batch(cmds) == nil)
        local expect = codec.format(nil, "PING")
        for _, c in ipairs(cmds) do
            expect = expect .. codec.format(nil, table.unpack(c, 1, c.n or #c))
        end
        assert(buf:tostring() == expect, buf:tostring())
        assert(buf:count() == 1 + #cmds)
        local before, count = buf:tostring(), buf:count()
        for _, bad in ipairs({ {"SET", "k", true}, {"SET", {"k", false}}, {}, "GET" }) do
            local batch = { {"GET", "a"}, {"SET", "b", 1}, bad, {"GET", "c"} }
            assert(buf:format_batch(batch) == 3, "the bad command's index")
            assert(buf:tostring() == before and buf:count() == count, "nothing of it kept")
        end
    )lua");
}

// check_batch and check_command accept exactly what format_batch encodes, and check_batch
// refuses names as format_batch does given the same refusal table.
TEST_F(RedisCodecLua, CheckBatchAgreesWithFormatBatch) {
    run(R"lua(
        local commands = {
            {"SET", "k", "v"}, {"SET", "n", 42, "PX", 1.5}, {"MSET", {"a", 1, "b", 2.25}},
            {"GET", "k", "ignored", n = 2}, {"RPUSH", "l", {}}, {"SET", "k", true},
            {"SET", {"k", false}}, {}, {"GET", nil, n = 2}, {"SET", "k", nil}, {false, "k"},
            {{"SET"}, "k"}, "GET", 7,
        }
        for i, c in ipairs(commands) do
            local batch = { {"GET", "a"}, c, {"GET", "b"} }
            local encoded = codec.buffer():format_batch(batch) == nil
            local checked = codec.check_batch(batch)
            assert(checked == (not encoded and 2 or nil), "command " .. i)
            if type(c) == "table" then
                assert(codec.check_command(c) == encoded, "check_command " .. i)
            end
        end
        local refusal = setmetatable({ MULTI = "use a transaction" }, { __index = function(t, k)
            if type(k) ~= "string" then return nil end
            return rawget(t, k:upper()) or false
        end })
        local batch = { {"get", "a"}, {"multi"}, {"set", "b", true} }
        local i, why = codec.check_batch(batch, refusal)
        assert(i == 2 and why == "use a transaction", tostring(why))
        local j, why2 = codec.buffer():format_batch(batch, refusal)
        assert(j == 2 and why2 == "use a transaction")
        i, why = codec.check_batch({ {"get", "a"}, {false, "x"} }, refusal)
        assert(i == 2 and why == nil, "a name that is not one")
        assert(codec.check_batch({ {"get", "a"}, {"set", "b", 1} }, refusal) == nil)
        assert(codec.check_batch({ {"get", "a"}, {"set", "b", true} }, refusal) == 2)
    )lua");
}

// decode counts the error replies among the top-level ones, and sizes a new table by the hint.
TEST_F(RedisCodecLua, DecodeCountsErrorRepliesAndTakesASizeHint) {
    run(R"lua(
        local ptr, size = frames_ptr("+OK\r\n-ERR a\r\n*1\r\n-ERR nested\r\n-ERR b\r\n:1\r\n")
        local t, n, errors = codec.decode(ptr, size, nil, 5)
        assert(n == 5 and t.n == 5 and errors == 2, "errors " .. tostring(errors))
        assert(codec.iserror(t[2]) and codec.iserror(t[4]) and codec.iserror(t[3][1]))
        local _, _, none = codec.decode(frames("+OK\r\n:2\r\n"))
        assert(none == 0)
        local _, _, mine = codec.decode(ptr, size, {})
        assert(mine == 2)
    )lua");
}

// Known values from Redis's own CLUSTER KEYSLOT; the tag rules are those of the cluster
// specification: the first '{', the first '}' after it, and only a non-empty tag counts.
TEST(KeySlot, MatchesRedisCluster) {
    EXPECT_EQ(redis::crc16_xmodem("123456789"), 0x31C3);
    EXPECT_EQ(redis::crc16_xmodem(""), 0);
    EXPECT_EQ(redis::key_slot("foo"), 12182);
    EXPECT_EQ(redis::key_slot("bar"), 5061);
    EXPECT_EQ(redis::key_slot("a"), 15495);
    EXPECT_EQ(redis::key_slot("b"), 3300);
    EXPECT_EQ(redis::key_slot("123456789"), 0x31C3 % 16384);
    EXPECT_EQ(redis::key_slot(""), 0);
    EXPECT_EQ(redis::key_slot("{user1000}.following"), redis::key_slot("{user1000}.followers"));
    EXPECT_EQ(redis::key_slot("{user1000}.following"), redis::key_slot("user1000"));
    EXPECT_EQ(redis::key_slot("{user1000}.following"), 3443);
    EXPECT_EQ(redis::key_slot("foo{{bar}}zap"), 4015);
    EXPECT_EQ(redis::key_slot("foo{}{bar}"), 8363);
    EXPECT_EQ(redis::key_slot("foo{bar}{zap}"), redis::key_slot("bar"));
    EXPECT_EQ(redis::key_slot("foo{{bar}}zap"), redis::key_slot("{bar"));
    EXPECT_EQ(redis::key_slot("{}foo"), redis::crc16_xmodem("{}foo") % 16384);
    EXPECT_EQ(redis::key_slot("foo{}{bar}"), redis::crc16_xmodem("foo{}{bar}") % 16384);
    EXPECT_EQ(redis::key_slot("foo{bar"), redis::crc16_xmodem("foo{bar") % 16384);
    EXPECT_EQ(redis::key_slot(std::string_view("a\0b", 3)),
              redis::crc16_xmodem({"a\0b", 3}) % 16384);
}

TEST_F(RedisCodecLua, SlotHashesKeysAndNumbersAsSent) {
    run(R"lua(
        assert(codec.slot("foo") == 12182)
        assert(codec.slot("{user1000}.following") == codec.slot("{user1000}.followers"))
        assert(codec.slot(42) == codec.slot("42"))
        assert(codec.slot(0.1) == codec.slot("0.1"))
        assert(not pcall(codec.slot, {}))
        assert(not pcall(codec.slot))
    )lua");
}

TEST_F(RedisCodecLua, SlotsDecidesSingleKeyCommandsAndLeavesTheRest) {
    run(R"lua(
        local single = { get = true, SET = true }
        local out = { 99, 99, 99, 99, 99, 99, 99, 99, 99, 99 }
        local cmds = {
            { "get", "foo" },                     -- single: its slot
            { "SET", "{user1000}.a", "v", 10 },   -- single, a number value: still decided
            { "set", "foo", "v" },                -- "set" is not in single (names as written)
            { "mget", "a", "b" },                 -- multi-key: the caller's
            { "get", 42 },                        -- a number key: the caller's
            { "get", { "a" } },                   -- a spliced table: the caller's
            { "get", "a", true },                 -- a bad argument: the caller's
            { "get", "foo", n = 2 },              -- an explicit count: the caller's
            { "get" },                            -- no key: the caller's
        }
        assert(codec.slots(cmds, single, out) == 9)
        assert(out[1] == codec.slot("foo"))
        assert(out[2] == codec.slot("user1000"))
        for i = 3, 9 do assert(out[i] == -2, i) end
        assert(out[10] == 99, "entries past the pipeline are left alone")
        assert(codec.slots({}, single, out) == 0)
        assert(not pcall(codec.slots, cmds, nil, out))
    )lua");
}

}  // namespace
}  // namespace skyhive
