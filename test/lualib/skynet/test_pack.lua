-- skynet.pack / unpack through real messages: random values round-trip exactly; cycles, deep
-- nesting and malformed input raise errors, never crash.
local skynet = require "skynet"
local t = require "tlib"

math.randomseed(20261127)
local random = math.random

local function random_string()
    local n = random(0, 3) == 0 and random(0, 300) or random(0, 12)
    local bytes = {}
    for i = 1, n do bytes[i] = string.char(random(0, 255)) end
    return table.concat(bytes)
end

local specials = { 0, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -65537, 2 ^ 31, -(2 ^ 31) - 1,
    math.maxinteger, math.mininteger, 0.0, -0.0, 1 / 0, -1 / 0, 0 / 0, 1.5, -2.25, 1e300, 5e-324 }

local function random_value(depth)
    local kind = random(1, depth < 4 and 8 or 6)
    if kind == 1 then return random(-1000, 1000)
    elseif kind == 2 then return specials[random(#specials)]
    elseif kind == 3 then return random() * 1e6 - 5e5
    elseif kind == 4 then return random_string()
    elseif kind == 5 then return random(0, 1) == 1
    elseif kind == 6 then return random(0, 1) == 1 and random(math.mininteger, math.maxinteger) or nil
    end
    local tab = {}
    for i = 1, random(0, 20) do tab[i] = random_value(depth + 1) end
    for _ = 1, random(0, 8) do
        local k = random(0, 1) == 1 and random_string() or random(-50, 50) + 0.5
        tab[k] = random_value(depth + 1)
    end
    return tab
end

t.run(function()
    local echo = skynet.newservice "helper_echo"

    for round = 1, 300 do
        local n = random(0, 6)
        local values = {}
        for i = 1, n do values[i] = random_value(0) end
        local back = table.pack(skynet.call(echo, "lua", "echo", table.unpack(values, 1, n)))
        t.eq(back.n, n, "round " .. round .. " value count")
        for i = 1, n do
            t.ok(t.same(values[i], back[i]), "round " .. round .. " value " .. i .. " differs")
        end
    end

    -- Light userdata round-trips as the same pointer.
    local p, sz = skynet.pack("x")
    t.eq(skynet.call(echo, "lua", "echo", p), p, "light userdata")
    skynet.trash(p, sz)

    -- Strings stay binary-safe and long strings survive.
    local long = string.rep("\0\1\255", 100000)
    t.eq(skynet.call(echo, "lua", "echo", long), long, "300 KB binary string")

    -- Cycles and excessive depth are refused by pack, before anything is sent.
    local cyclic = {}
    cyclic.self = cyclic
    t.raises({ "cycle" }, skynet.pack, cyclic)
    t.raises({ "cycle" }, skynet.call, echo, "lua", "echo", { inner = cyclic })
    local deep = {}
    local cur = deep
    for _ = 1, 40 do
        cur.next = {}
        cur = cur.next
    end
    t.raises({ "deeper" }, skynet.pack, deep)
    t.raises({ "function" }, skynet.pack, print)

    -- Malformed input raises, locally and in the receiving service.
    t.raises({ "unpack" }, skynet.unpack, "\xcd")
    t.raises({ "unpack" }, skynet.unpack, "\xc9\xff")
    t.raises({ "unpack" }, skynet.unpack, "\xcc\x05\x00")
    local rejected = 0
    for _ = 1, 2000 do
        local ok, err = pcall(skynet.unpack, random_string())
        if not ok then
            t.ok(tostring(err):find("unpack", 1, true), "junk error names unpack: " .. tostring(err))
            rejected = rejected + 1
        end
    end
    t.ok(rejected > 100, "random junk is mostly rejected (" .. rejected .. " of 2000)")
    for _ = 1, 50 do
        local junk = string.char(random(0xc8, 0xdf)) .. random_string()
        local ok, err = pcall(skynet.rawcall, echo, "lua", junk)
        t.ok(ok or tostring(err):find("failed", 1, true), "junk request: " .. tostring(err))
    end
    t.eq(skynet.call(echo, "lua", "echo", "still"), "still", "echo survives junk requests")

    -- packstring and unpack of a string agree with pack.
    local s = skynet.packstring(1, "two", { 3 })
    local a, b, c = skynet.unpack(s)
    t.ok(a == 1 and b == "two" and c[1] == 3, "packstring round trip")
end)
