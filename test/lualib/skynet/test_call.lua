-- skynet.call / send / ret / response semantics between two Lua services.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    local echo = skynet.newservice "helper_echo"

    -- call returns every value, nil holes and all, with types intact.
    local r = table.pack(skynet.call(echo, "lua", "echo", 1, nil, "two", 3.5, false, { x = { 1 } }))
    t.eq(r.n, 6, "values returned")
    t.eq(r[1], 1, "integer")
    t.eq(r[2], nil, "hole")
    t.eq(r[3], "two", "string")
    t.eq(math.type(r[4]), "float", "float type")
    t.eq(r[5], false, "false")
    t.eq(r[6].x[1], 1, "nested table")
    t.eq(select("#", skynet.call(echo, "lua", "echo")), 0, "no values")

    -- Sends from one service arrive in order, before a later call is answered.
    for i = 1, 100 do t.ok(skynet.send(echo, "lua", "note", i), "send") end
    local count = table.pack(skynet.call(echo, "lua", "count"))
    t.eq(count[1], 100, "notes received")
    for i = 1, 100 do t.eq(count[i + 1], i, "note order") end

    -- Calls from many coroutines at once each get their own answer.
    local answers, done = {}, 0
    for i = 1, 20 do
        skynet.fork(function()
            answers[i] = skynet.call(echo, "lua", "sleep", (i * 7) % 5, i)
            done = done + 1
        end)
    end
    t.wait_until(function() return done == 20 end, 500, "20 concurrent calls")
    for i = 1, 20 do t.eq(answers[i], i, "concurrent call " .. i) end

    -- response(): answered later from a fork, once.
    local a, b = skynet.call(echo, "lua", "later", 2, "late", 7)
    t.eq(a, "late", "late response")
    t.eq(b, 7, "late response second value")

    -- response(false, text) and a handler that returns without answering become errors.
    t.raises({ "call to " .. skynet.address(echo) .. " failed", "not today" },
        skynet.call, echo, "lua", "refuse", "not today")
    t.raises({ "without answering" }, skynet.call, echo, "lua", "noanswer")

    -- ignoreret: no answer and no error; the call stays pending. Bound the wait with calltimeout.
    t.raises({ "timed out after 50 ms" }, skynet.calltimeout, 50, echo, "lua", "ignore")

    -- rawcall / ret with a raw payload, and a protocol of our own.
    skynet.register_protocol { name = "text", id = skynet.PTYPE_TEXT, pack = function(s) return s end,
        unpack = skynet.tostring }
    local msg, sz = skynet.rawcall(echo, "lua", skynet.pack("echo", "raw"))
    t.eq(skynet.unpack(msg, sz), "raw", "rawcall")

    -- Names: register, localname, call by name.
    skynet.name(".echo", echo)
    t.eq(skynet.localname ".echo", echo, "localname")
    t.eq(skynet.call(".echo", "lua", "echo", "by name"), "by name", "call by name")
    t.eq(skynet.localname ".nobody", nil, "unknown name")
    t.raises({ "call to .nobody failed", "dead" }, skynet.call, ".nobody", "lua", "echo")

    -- A protocol nobody registered is refused on both sides.
    t.raises({ "unknown protocol" }, skynet.call, echo, "nonsense")
    t.raises({ "no dispatch function for message type 0" }, skynet.call, echo, "text", "hi")

    -- Forwarding: a proxy takes the payload and redirects it; the backend answers the caller.
    local proxy = skynet.newservice("helper_proxy", echo)
    local x, y = skynet.call(proxy, "lua", "echo", "through", "proxy")
    t.eq(x .. " " .. y, "through proxy", "answer through a forwarding proxy")

    -- ret outside a request is an error.
    t.raises({ "no request to answer" }, skynet.ret, "x")
end)
