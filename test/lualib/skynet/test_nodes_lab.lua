-- with_nodes itself (test/support/with_nodes.cpp), from the test node it runs last: two nodes a
-- and b (helper_nodes_lab on test/config/nodes-lab.lua) are ready before this test starts, each
-- knows its own name and port and its peers' ports, and the control port's commands do what
-- they say: PID, PORT, STOP / CONT (a stopped node answers nothing until continued), KILL
-- (the node is gone and WAITEXIT gives 137), RESTART (a new process on the same port), TERM
-- (a clean exit, status 0), a WAITEXIT parked while another connection kills the node, and
-- errors that name what is wrong.
local skynet = require "skynet"
local socket = require "skynet.socket"
local redis = require "skynet.db.redis"
local t = require "tlib"

local function env(name)
    local v = os.getenv(name)
    if not v then error(name .. " is not set (run under with_nodes)", 2) end
    return v
end

-- One line exchange with a node: the answer, or nil once the connection closes.
local function ask(id, line)
    socket.write(id, line .. "\n")
    local answer = socket.readline(id)
    return answer or nil
end

local function connect(port)
    return assert(socket.open("127.0.0.1", port))
end

t.run(function()
    t.eq(env "SKYHIVE_TEST_NODES", "a b", "node names")
    local port = { a = tonumber(env "SKYHIVE_TEST_NODE_A_PORT"), b = tonumber(env "SKYHIVE_TEST_NODE_B_PORT") }
    local self_port = tonumber(env "SKYHIVE_TEST_NODE_T_PORT")
    t.eq(env "SKYHIVE_TEST_NODE_NAME", "t", "the test node's own name (--self)")
    t.eq(tonumber(env "SKYHIVE_TEST_NODE_PORT"), self_port, "the test node's own port")
    t.ok(port.a ~= port.b and port.a ~= self_port and port.b ~= self_port, "distinct ports")

    -- The redis-server of --redis standalone answers.
    local db = redis.connect { port = tonumber(env "SKYHIVE_TEST_REDIS_PORT") }
    t.eq(db:ping(), "PONG", "redis-server")

    local ctl = redis.connect { port = tonumber(env "SKYHIVE_TEST_NODES_PORT"), timeout = 60000 }
    t.eq(ctl:ping(), "PONG", "control port")
    local pid = { a = ctl:pid("a"), b = ctl:pid("b") }
    t.eq(pid.a, tonumber(env "SKYHIVE_TEST_NODE_A_PID"), "PID a")
    t.eq(pid.b, tonumber(env "SKYHIVE_TEST_NODE_B_PID"), "PID b")
    t.eq(ctl:port("b"), port.b, "PORT b")
    t.eq(ctl:port("t"), self_port, "PORT of --self")

    -- Each node runs its config with its own name and port, and knows the others' ports.
    local conn = {}
    for _, n in ipairs { "a", "b" } do
        conn[n] = connect(port[n])
        t.eq(ask(conn[n], "NAME"), n, "node on " .. n .. "'s port")
        t.eq(ask(conn[n], "PORTOF t"), tostring(self_port), n .. " knows t's port")
    end
    t.eq(ask(conn.a, "PORTOF b"), tostring(port.b), "a knows b's port")
    t.ok(ctl:log("a"):find("nodes_lab: a listening on " .. port.a, 1, true), "LOG a")

    -- STOP: b answers nothing while stopped (a bounded look: 30 cs), then everything at CONT.
    t.eq(ctl:stop("b"), "OK", "STOP b")
    local answer
    skynet.fork(function() answer = ask(conn.b, "ECHO while stopped") end)
    skynet.sleep(30)
    t.eq(answer, nil, "a stopped node's answer")
    t.eq(ask(conn.a, "ECHO a still serves"), "a still serves", "a while b is stopped")
    t.eq(ctl:cont("b"), "OK", "CONT b")
    t.wait_until(function() return answer ~= nil end, 500, "b's answer after CONT")
    t.eq(answer, "while stopped", "b's answer after CONT")

    -- KILL, parked on a second connection's WAITEXIT: the wait ends with 128 + SIGKILL.
    local waiter = redis.connect { port = tonumber(env "SKYHIVE_TEST_NODES_PORT"), timeout = 60000 }
    local waited
    skynet.fork(function() waited = waiter:waitexit("a", 20000) end)
    t.eq(ctl:ping(), "PONG", "the control port serves others during a WAITEXIT")
    t.eq(ctl:kill("a"), "OK", "KILL a")
    t.wait_until(function() return waited ~= nil end, 500, "WAITEXIT a")
    t.eq(waited, 137, "a's exit status")
    t.eq(ask(conn.a, "NAME"), nil, "a's connection after KILL")
    socket.close(conn.a)
    t.ok(not socket.open("127.0.0.1", port.a), "a's port refuses after KILL")
    t.raises({ "PID", "node a is not running", "137" }, ctl.pid, ctl, "a")
    t.eq(ctl:waitexit("a"), 137, "WAITEXIT of an exited node")

    -- RESTART: a new process with the same config and port, ready when answered.
    t.eq(ctl:restart("a"), "OK", "RESTART a")
    local pid2 = ctl:pid("a")
    t.ok(pid2 ~= pid.a, "a new pid after RESTART")
    conn.a = connect(port.a)
    t.eq(ask(conn.a, "NAME"), "a", "a after RESTART")
    t.raises({ "RESTART", "node a is still running", tostring(pid2), "KILL or TERM" },
        ctl.restart, ctl, "a")

    -- WAITEXIT with a deadline on a running node; TERM stops b cleanly.
    t.raises({ "WAITEXIT", "node b still running" }, ctl.waitexit, ctl, "b", 50)
    t.eq(ctl:term("b"), "OK", "TERM b")
    t.eq(ctl:waitexit("b"), 0, "b's exit status after TERM")
    t.raises({ "CONT", "node b is not running" }, ctl.cont, ctl, "b")

    -- Bad requests name what is wrong.
    t.raises({ "PID", "no node named 'zz'" }, ctl.pid, ctl, "zz")
    t.raises({ "WAITEXIT", "'-5' is not a positive number" }, ctl.waitexit, ctl, "a", "-5")
    t.raises({ "unknown command or wrong arguments", "'FLY' with 1 argument" }, ctl.fly, ctl, "zz")
    t.raises({ "unknown command or wrong arguments", "'KILL' with 0 argument" }, ctl.kill, ctl)
    t.eq(ask(conn.a, "NAME"), "a", "a still serves at the end")
    socket.close(conn.a)
    socket.close(conn.b)
end)
