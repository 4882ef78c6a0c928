-- Blocks that Lua resizes (tables' array parts, string buffers, coroutine stacks) go through
-- snlua's allocator, which moves small ones by hand (a malloc, a copy and a sized free) and
-- leaves large ones to realloc. What must hold either way: the contents survive every move, and
-- the service's byte count (skynet.stat "memory") stays equal to Lua's own count of its heap, so
-- a wrong size on one move (which would also hand jemalloc a wrong size at the free) shows.
local skynet = require "skynet"
local t = require "tlib"

-- Both counts at one moment: Lua's (collectgarbage "count" is KB, with the bytes as a fraction)
-- between two readings of the service's that agree, so that nothing was allocated or freed in
-- between (a call can grow the stack, a step of the collector can free).
local function same_count(what)
    for _ = 1, 10 do
        local before = skynet.stat "memory"
        local lua = collectgarbage "count"
        local after = skynet.stat "memory"
        if before == after then
            t.eq(before, math.floor(lua * 1024 + 0.5), what .. ": the service's count is Lua's")
            return
        end
    end
    t.ok(false, what .. ": the count never held still")
end

t.run(function()
    same_count("at the start")

    -- Array parts grown one element at a time, across the small classes and past 4 KB (where
    -- realloc takes over), then shrunk by a rehash once most of it is gone.
    local tables = {}
    for n = 1, 2000, 37 do
        local a = {}
        for i = 1, n do a[i] = i * 3 end
        tables[#tables + 1] = a
    end
    same_count("after growing arrays")
    for _, a in ipairs(tables) do
        local n = #a
        local sum = 0
        for i = 1, n do sum = sum + a[i] end
        t.eq(sum, 3 * n * (n + 1) // 2, "an array of " .. n .. " kept its values")
        for i = n // 4 + 1, n do a[i] = nil end
        a.x = true  -- a new key in a full hash part: a rehash, which shrinks the array part
        a.y = true
        sum = 0
        for i = 1, n // 4 do sum = sum + a[i] end
        t.eq(sum, 3 * (n // 4) * (n // 4 + 1) // 2, "shrunk to " .. n // 4 .. ", values kept")
    end
    same_count("after shrinking them")

    -- String buffers (table.concat, string.rep, string.format grow one box each) of every size.
    for n = 1, 20000, 997 do
        local parts = {}
        for i = 1, n do parts[i] = string.char(65 + i % 26) end
        local s = table.concat(parts)
        t.eq(#s, n, "a concatenation of " .. n .. " bytes")
        t.eq(s:byte(n), 65 + n % 26, "its last byte")
    end
    same_count("after string buffers")

    -- Coroutine stacks grown by deep recursion, then shrunk by the collector.
    local function depth(k) return k == 0 and 0 or 1 + depth(k - 1) end
    for _, k in ipairs { 10, 100, 1000, 5000 } do
        local co = coroutine.wrap(function() return depth(k) end)
        t.eq(co(), k, "a coroutine " .. k .. " calls deep")
    end
    tables = nil
    collectgarbage()
    same_count("after a full collection")
end)
