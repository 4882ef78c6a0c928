// skynet.pack/unpack cost per message, driven from Lua as a service would drive it.
//
// Each figure is the median of several timed runs (interleaved with the reference's) of pack +
// unpack (+ trash) of one message, and is compared with the same round trip through a pure-Lua
// serializer in the same run: the values written as Lua source with string.format("%q") and read
// back with load(), which is what a service without a binary codec would do. ratio = reference time
// / our time (higher is better).
//
// Output: one line per figure, e.g.
//   lua.seri.call3 ns=180 ref_ns=2400 ratio=13.3 bytes=38

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "lualib/native/seri.h"

namespace {

constexpr int kRuns = 7;
constexpr double kRunSeconds = 0.1;

const char* const kHarness = R"(
local seri = ...
local pack, unpack, packstring, trash = seri.pack, seri.unpack, seri.packstring, seri.trash
local format, concat, select, type, pairs = string.format, table.concat, select, type, pairs

local function source(v)
    if type(v) ~= "table" then return format("%q", v) end
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = "[" .. source(k) .. "]=" .. source(x) end
    return "{" .. concat(parts, ",") .. "}"
end

local function pack_ref(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = source((select(i, ...))) end
    return "return " .. concat(parts, ",")
end

local function unpack_ref(s) return load(s, "=message", "t", {})() end

local messages = {
    call3 = function() return "set", "player:42", {gold = 100, name = "x", items = {1, 2, 3}} end,
    table100 = function()
        local t = {}
        for i = 1, 100 do t[i] = i * 37 end
        for i = 1, 20 do t["field" .. i] = "value number " .. i end
        return t
    end,
}

local loops = {
    seri = function(n, ...)
        for _ = 1, n do
            local p, sz = pack(...)
            unpack(p, sz)
            trash(p)
        end
    end,
    seri_string = function(n, ...)
        for _ = 1, n do unpack(packstring(...)) end
    end,
    ref = function(n, ...)
        for _ = 1, n do unpack_ref(pack_ref(...)) end
    end,
}

-- Checks every codec returns the message intact before anything is timed.
for name, make in pairs(messages) do
    local a = table.pack(make())
    local b = table.pack(unpack(packstring(make())))
    local c = table.pack(unpack_ref(pack_ref(make())))
    assert(a.n == b.n and a.n == c.n, name)
    assert(#packstring(table.unpack(b, 1, b.n)) == #packstring(make()), name)
    assert(#pack_ref(table.unpack(c, 1, c.n)) == #pack_ref(make()), name)
end

return function(loop, message, n) loops[loop](n, messages[message]()) end,
       function(message) return #packstring(messages[message]()) end
)";

// Runs loop(message, n) under lua_pcall; returns seconds.
double time_loop(lua_State* L, const char* loop, const char* message, long n) {
    lua_pushvalue(L, 1);
    lua_pushstring(L, loop);
    lua_pushstring(L, message);
    lua_pushinteger(L, n);
    auto start = std::chrono::steady_clock::now();
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        std::fprintf(stderr, "seri_bench: %s\n", lua_tostring(L, -1));
        std::exit(1);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Iterations of `loop` that take about kRunSeconds.
long calibrate(lua_State* L, const char* loop, const char* message) {
    long n = 100;
    while (time_loop(L, loop, message, n) < kRunSeconds / 10)
        n *= 4;
    return long(double(n) * kRunSeconds / time_loop(L, loop, message, n)) + 1;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Median ns per iteration of each loop over kRuns rounds. The loops take turns within a round, so
// a neighbour's load on this shared machine falls on all of them alike.
std::vector<double> median_ns(lua_State* L, const std::vector<const char*>& loops,
                              const char* message) {
    std::vector<long> n;
    for (const char* loop : loops)
        n.push_back(calibrate(L, loop, message));
    std::vector<std::vector<double>> ns(loops.size());
    for (int run = 0; run < kRuns; ++run) {
        for (size_t i = 0; i < loops.size(); ++i) {
            ns[i].push_back(time_loop(L, loops[i], message, n[i]) * 1e9 / double(n[i]));
        }
    }
    std::vector<double> medians;
    for (auto& v : ns)
        medians.push_back(median(v));
    return medians;
}

}  // namespace

int main() {
    lua_State* L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, kHarness) != LUA_OK) {
        std::fprintf(stderr, "seri_bench: %s\n", lua_tostring(L, -1));
        return 1;
    }
    luaopen_skyhive_seri(L);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        std::fprintf(stderr, "seri_bench: %s\n", lua_tostring(L, -1));
        return 1;
    }
    // Stack: 1 = run(loop, message, n), 2 = size(message).
    for (const char* message : {"call3", "table100"}) {
        lua_pushvalue(L, 2);
        lua_pushstring(L, message);
        lua_call(L, 1, 1);
        long long bytes = lua_tointeger(L, -1);
        lua_pop(L, 1);
        std::vector<double> ns = median_ns(L, {"ref", "seri", "seri_string"}, message);
        double ref = ns[0], ours = ns[1], ours_string = ns[2];
        std::printf("lua.seri.%s ns=%.0f ref_ns=%.0f ratio=%.1f bytes=%lld\n", message, ours, ref,
                    ref / ours, bytes);
        std::printf("lua.seri.%s.packstring ns=%.0f ref_ns=%.0f ratio=%.1f bytes=%lld\n", message,
                    ours_string, ref, ref / ours_string, bytes);
    }
    lua_close(L);
    return 0;
}
