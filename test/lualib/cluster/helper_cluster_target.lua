-- A service the cluster tests call from another node: echoes, raises, sleeps, counts pushes,
-- and relays a call to another node.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

local notes = {}
local CMD = {}

function CMD.echo(...) return ... end
function CMD.node() return os.getenv "SKYHIVE_TEST_NODE_NAME" end
function CMD.boom(text) error(text) end
local sleeping = 0
function CMD.sleep(cs, v)
    sleeping = sleeping + 1
    skynet.sleep(cs)
    sleeping = sleeping - 1
    return v
end
-- how many sleep calls are in progress
function CMD.sleeping() return sleeping end
function CMD.size(s) return #s end
function CMD.blob(n) return string.rep("x", n) end
function CMD.note(v) notes[#notes + 1] = v end
function CMD.notes() return table.unpack(notes) end
function CMD.count() return #notes end
-- marks of numbered senders: each sender's must come 1, 2, 3... (out of order ones are counted)
local marks, misordered = {}, 0
function CMD.mark(sender, i)
    if i ~= (marks[sender] or 0) + 1 then misordered = misordered + 1 end
    marks[sender] = i
end
function CMD.marked(sender) return marks[sender], misordered end
-- cluster.leave of this service's node (a clean stop)
function CMD.leave() cluster.leave() end
-- ends the service without answering the call that asked
function CMD.quit() skynet.exit() end
-- socket.inline for this service: its messages from the socket thread run there
function CMD.inline(on) return require("skynet.socket").inline(on) end
-- cluster.call from this service (a second caller beside the test's own)
function CMD.relay(node, address, ...) return cluster.call(node, address, ...) end

skynet.start(function()
    skynet.dispatch("lua", function(session, _, cmd, ...)
        local f = CMD[cmd]
        if session == 0 then return f(...) end
        skynet.retpack(f(...))
    end)
end)
