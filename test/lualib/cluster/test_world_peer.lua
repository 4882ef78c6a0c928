-- config: lua-test-game
-- The game's "@world" for peers (services/game/world_peer.lua) across a real link between two
-- cluster services of one process: a peer reaches peer_tell, peer_gold and peer_golds (a batch
-- of gold news, in order) of the world (answers and pushes), and any other world command answers an error naming it without reaching the
-- world; the entry ends with its world.
local skynet = require "skynet"
local cluster = require "skynet.cluster"
local t = require "tlib"

t.run(function()
    local world = skynet.newservice "helper_world_stub"
    local entry = skynet.newservice("world_peer", world)

    local b = skynet.newservice "clusterd"
    local baddr = skynet.call(b, "lua", "OPEN", { name = "b", listen = "127.0.0.1:0" })
    local aaddr = cluster.open { name = "a", listen = "127.0.0.1:0" }
    cluster.reload { b = baddr }
    skynet.call(b, "lua", "RELOAD", { a = aaddr })
    skynet.call(b, "lua", "REGISTER", "world", entry)

    local ok, shown = cluster.call("b", "@world", "peer_tell", "bob", "alice", "a", "psst")
    t.eq(ok, true, "peer_tell answered")
    t.eq(shown, "BOB", "the world's answer")
    cluster.send("b", "@world", "peer_gold", "bob", "alice", 5)
    for _, cmd in ipairs { "stop", "login", "give", "watch", "calls" } do
        t.raises({ "world: " .. cmd .. " is not a command for peers" }, cluster.call, "b",
            "@world", cmd)
    end
    cluster.send("b", "@world", "stop")
    t.eq(cluster.call("b", "@world", "peer_gold", "carol", "dan", 7), true, "peer_gold answered")
    t.eq(cluster.call("b", "@world", "peer_golds",
        { { "erin", "bob", 2, 10, 3 }, { "carol", "bob", 1, 8, 4 } }), 2, "peer_golds answered")
    -- the calls above are answered in order by the world: the push arrived before the last one
    t.eq(skynet.call(world, "lua", "calls"),
        "peer_tell bob alice a psst, peer_gold bob alice 5, peer_gold carol dan 7, "
            .. "peer_golds erin bob 2, peer_golds carol bob 1",
        "only the peer commands reached the world")

    skynet.kill(world)
    -- while the entry lives it refuses "stop" itself; once it has ended the call finds it dead
    t.wait_until(function()
        local alive, err = pcall(skynet.call, entry, "lua", "stop")
        return not alive and not tostring(err):find("not a command for peers", 1, true)
    end, 300, "the entry ends with its world")
end)
