-- A watchdog for test_gate, written as a skynet watchdog is: it launches the C++ gate, and for
-- each new connection either starts a helper_gate_agent (which forwards the connection to
-- itself) or, with policy "accept", has the gate send the packets here.
--   start conf, policy -> the gate's port          ("agent" or "accept")
--   kick fd            -> true
--   wait event         -> true once the event has been seen ("open 5", "close 5", "data 5 hi",
--                         "error 5 text", "warning 5 1024")
--   opened n           -> the fd of the n-th connection, once it is open
local skynet = require "skynet"
require "skynet.manager"

local gate, policy
local seen = {}    -- event text -> true
local opened = {}  -- fds in open order
local waiting = {} -- coroutines in wait / opened

local function record(text)
    seen[text] = true
    local w = waiting
    waiting = {}
    for _, co in ipairs(w) do skynet.wakeup(co) end
end

local SOCKET = {}

function SOCKET.open(fd, addr)
    assert(addr:match("^127%.0%.0%.1:%d+$"), addr)
    opened[#opened + 1] = fd
    if policy == "accept" then
        skynet.call(gate, "lua", "accept", fd)
    else
        local agent = skynet.newservice("helper_gate_agent")
        skynet.call(agent, "lua", "start", { gate = gate, client = fd })
    end
    record("open " .. fd)
end

function SOCKET.close(fd) record("close " .. fd) end
function SOCKET.error(fd, text) record("error " .. fd .. " " .. tostring(text)) end
function SOCKET.warning(fd, kb) record("warning " .. fd .. " " .. kb) end
function SOCKET.data(fd, msg) record("data " .. fd .. " " .. msg) end

local CMD = {}

function CMD.start(conf, how)
    policy = how
    gate = skynet.launch("gate")
    return skynet.call(gate, "lua", "open", conf)
end

function CMD.kick(fd)
    skynet.call(gate, "lua", "kick", fd)
    return true
end

function CMD.gate() return gate end

function CMD.wait(text)
    while not seen[text] do
        waiting[#waiting + 1] = coroutine.running()
        skynet.wait()
    end
    return true
end

function CMD.opened(n)
    while not opened[n] or not seen["open " .. opened[n]] do
        waiting[#waiting + 1] = coroutine.running()
        skynet.wait()
    end
    return opened[n]
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, sub, ...)
        if cmd == "socket" then
            SOCKET[sub](...) -- notices are sent, not called: nothing to answer
        else
            skynet.ret(skynet.pack(CMD[cmd](sub, ...)))
        end
    end)
end)
