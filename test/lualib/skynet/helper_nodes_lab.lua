-- A node started by with_nodes for test_nodes_lab (config test/config/nodes-lab.lua): a line
-- server on 127.0.0.1:$SKYHIVE_TEST_NODE_PORT (line_server's ECHO, AUTH, DROP) that also answers
--   NAME        -> this node's name ($SKYHIVE_TEST_NODE_NAME)
--   PORTOF x    -> the port with_nodes gave node x ($SKYHIVE_TEST_NODE_<X>_PORT), or "none"
-- It logs "nodes_lab: <name> listening on <port>" once it listens (the line --ready log: waits for).
local skynet = require "skynet"
local socket = require "skynet.socket"
local line_server = require "line_server"

local name = assert(os.getenv "SKYHIVE_TEST_NODE_NAME", "SKYHIVE_TEST_NODE_NAME is not set")
local port = assert(tonumber(os.getenv "SKYHIVE_TEST_NODE_PORT"), "SKYHIVE_TEST_NODE_PORT is not set")

local commands = {}
function commands.NAME(id) socket.write(id, name .. "\n") end
function commands.PORTOF(id, rest)
    socket.write(id, (os.getenv("SKYHIVE_TEST_NODE_" .. rest:upper() .. "_PORT") or "none") .. "\n")
end

skynet.start(function()
    line_server.listen(commands, { port = port })
    skynet.error("nodes_lab: " .. name .. " listening on " .. port)
end)
