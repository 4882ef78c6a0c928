-- socket.inline: an opted-in service's socket events run on the socket thread while it is idle
-- (counted by skynet.stat("inline")), a service that did not opt in never runs there, and one
-- handler that runs past the limit turns the option off for good, the service still answering.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"

local function round_trips(id, n, text)
    for i = 1, n do
        socket.write(id, text .. i .. "\n")
        t.eq(socket.readline(id), text .. i, "echo " .. i)
    end
end

t.run(function()
    local echo = skynet.newservice("helper_inline_echo")
    local port = skynet.call(echo, "lua", "port")
    local id = assert(socket.open("127.0.0.1", port))

    -- The helper is idle whenever a line arrives (we wait for each echo): every data event runs
    -- on the socket thread.
    round_trips(id, 100, "ping ")
    local ran_inline, on = skynet.call(echo, "lua", "inline")
    t.ok(on, "still opted in")
    t.ok(ran_inline >= 100, "100 data events handled inline, got " .. ran_inline)
    t.eq(skynet.stat("inline"), 0, "this service did not opt in: nothing of it ran inline")

    -- A handler on the socket thread reads the socket table at once (a query sent to the
    -- socket thread would wait for itself): the heartbeat of a cluster link relies on it.
    socket.write(id, "netstat\n")
    local answer = socket.readline(id)
    local nid, nread = answer:match("^netstat (%d+) (%d+)$")
    t.ok(nid ~= nil, "netstat from the socket thread finds the connection: " .. answer)
    t.ok(tonumber(nread) > 0, "and counts what it read")
    t.eq(skynet.call(echo, "lua", "inline"), ran_inline + 1, "that handler ran inline")
    ran_inline = ran_inline + 1

    -- 30 ms on the socket thread: answered, then the option is off.
    socket.write(id, "slow\n")
    t.eq(socket.readline(id), "slow", "the slow line is still answered")
    local after_slow
    after_slow, on = skynet.call(echo, "lua", "inline")
    t.eq(on, false, "an overrun turns socket.inline off")
    t.eq(after_slow, ran_inline + 1, "the slow event itself ran inline")

    -- From now on its events go to the workers, and it serves as before.
    round_trips(id, 20, "pong ")
    local later = skynet.call(echo, "lua", "inline")
    t.eq(later, after_slow, "no event ran inline after the overrun")
    socket.close(id)
end)
