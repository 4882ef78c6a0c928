-- A worker puts its socket writes off to the end of its batch (socket_batch_writes, the
-- default): they must still leave before anything the batch did can be seen elsewhere. Here a
-- line written by this service, then a message to a helper that writes the next line on the
-- same socket: the helper's line never comes first. And a helper that writes and exits in the
-- same message still gets its line out.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"

local N = 500

t.run(function()
    local accepted
    local listener, _, port = socket.listen("127.0.0.1", 0)
    socket.start(listener, function(id) accepted = id end)
    local client = assert(socket.open("127.0.0.1", port))
    t.wait_until(function() return accepted ~= nil end, 200, "the connection accepted")
    -- Two helpers: one of them may run on the other worker while this message goes on (this
    -- worker keeps the first service it makes runnable for itself, to run after the batch).
    -- test/net/batch_writes_test.cpp makes that overlap certain.
    local helpers = { skynet.newservice("helper_write_order"),
        skynet.newservice("helper_write_order") }

    -- One message writes "a i" then asks a helper for "b i", N times.
    for i = 1, N do
        socket.write(accepted, "a" .. i .. "\n")
        skynet.send(helpers[i % 2 + 1], "lua", "write", accepted, "b" .. i .. "\n")
    end
    local at = {}
    for k = 1, 2 * N do
        local line = socket.readline(client)
        t.ok(line, "line " .. k .. " of " .. 2 * N)
        at[line] = k
    end
    local early = 0
    local a_last, b_last = 0, { 0, 0 }
    for i = 1, N do
        local a, b, h = at["a" .. i], at["b" .. i], i % 2 + 1
        t.ok(a and b, "both lines of round " .. i .. " arrived")
        if b < a then early = early + 1 end
        t.ok(a > a_last and b > b_last[h], "each writer's lines in order, round " .. i)
        a_last, b_last[h] = a, b
    end
    t.eq(early, 0, "the helper's line came before the line written ahead of the message")

    -- Write, then exit, in one message: the line still leaves.
    local leaving = skynet.newservice("helper_write_order")
    skynet.send(leaving, "lua", "write_exit", accepted, "bye\n")
    t.eq(socket.readline(client), "bye", "the line of a service that exits at once")
    socket.close(client)
    socket.close(accepted)
end)
