-- The cluster's config keys as lualib/skynet/cluster/config.lua reads them (clusterd at start and
-- at each reload): defaults, the static list of cluster_nodes, skynet's clustername file, and a
-- clear error naming the key (or the file and line) and the entry for every malformed one.
local t = require "tlib"
local cconfig = require "skynet.cluster.config"

local function write(text)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    return path
end

t.run(function()
    -- Defaults, and values read from the config.
    local s = cconfig.settings {}
    t.eq(s.name, nil, "no name")
    t.eq(s.listen, "127.0.0.1:0", "loopback by default")
    t.eq(s.ttl, 3000, "ttl")
    t.eq(s.heartbeat, 1000, "heartbeat")
    t.eq(s.peer_timeout, 3000, "peer timeout")
    t.eq(s.max_message, 16 * 1024 * 1024, "max message")
    t.eq(s.send_queue_kb, 65536, "send queue")
    s = cconfig.settings { cluster_name = "eu-1", cluster_listen = "0.0.0.0:9001",
        cluster_secret = "s", cluster_ttl = "1500", cluster_heartbeat = "200",
        cluster_peer_timeout = "600.0" }
    t.eq(s.name, "eu-1", "name")
    t.eq(s.listen, "0.0.0.0:9001", "listen")
    t.eq(s.secret, "s", "secret")
    t.eq(s.ttl, 1500, "ttl set")
    t.eq(s.peer_timeout, 600, "an integer written as 600.0")
    t.raises({ "config cluster_ttl: expected an integer of at least 100, got '5'" },
        cconfig.settings, { cluster_ttl = "5" })
    t.raises({ "config cluster_listen: expected \"host:port\", got '9001' (no port)" },
        cconfig.settings, { cluster_listen = "9001" })
    t.raises({ "config cluster_peer_timeout: 1000 ms is not more than cluster_heartbeat (1000 ms)" },
        cconfig.settings, { cluster_peer_timeout = "1000" })
    t.raises({ "config cluster_name: expected 1 to 64 letters", "'a.b'" },
        cconfig.settings, { cluster_name = "a.b" })

    -- cluster_nodes: "name=host:port" entries separated by commas or spaces.
    local nodes = cconfig.static_nodes { cluster_nodes = "a=127.0.0.1:9001, b-2=[::1]:9002 c=x:1" }
    t.ok(t.same(nodes, { a = "127.0.0.1:9001", ["b-2"] = "[::1]:9002", c = "x:1" }), "parsed")
    local expected = 'config cluster_nodes: expected a list of "name=host:port", '
    for _, case in ipairs {
        { "a=127.0.0.1:9001,b", "entry 'b' has no '='" },
        { "a=127.0.0.1", "entry 'a=127.0.0.1' has no port" },
        { "a=127.0.0.1:http", "entry 'a=127.0.0.1:http' has a port that is not a number" },
        { "a=127.0.0.1:70000", "entry 'a=127.0.0.1:70000' has a port over 65535" },
        { "a=:9001", "entry 'a=:9001' has no host" },
        { "a.b=127.0.0.1:9001", "entry 'a.b=127.0.0.1:9001' has a name that is not 1 to 64" },
        { "=127.0.0.1:9001", "entry '=127.0.0.1:9001' has a name that is not" },
        { "a=h:1 a=h:2", "entry 'a=h:2' names 'a' a second time" },
        { " , ", "got ' , '" },
    } do
        t.raises({ expected .. case[2] }, cconfig.static_nodes, { cluster_nodes = case[1] })
    end

    -- skynet's clustername file: name = "host:port" lines, false for a node that is down, and
    -- skynet's __nowaiting option.
    local good = write('__nowaiting = true\nnode1 = "127.0.0.1:9001"\nnode2 = "[::1]:9002"\ndb = false\n')
    local opts
    nodes, opts = cconfig.static_nodes { cluster = good, cluster_nodes = "node1=127.0.0.1:9001 x=h:7" }
    t.ok(t.same(nodes, { node1 = "127.0.0.1:9001", node2 = "[::1]:9002", db = false, x = "h:7" }),
        "file and list together")
    t.eq(opts.nowaiting, true, "__nowaiting")
    local at = string.format("config cluster = %q: %s:", good, good)
    t.raises({ "config: node node1 is '127.0.0.2:1' in cluster_nodes but '127.0.0.1:9001' in " .. good },
        cconfig.static_nodes, { cluster = good, cluster_nodes = "node1=127.0.0.2:1" })
    os.remove(good)

    for _, case in ipairs {
        { 'node1 = "127.0.0.1:9001"\nnode2 = "127.0.0.1"\n',
            ":2: entry 'node2': expected \"host:port\" or false, got '127.0.0.1' (no port)" },
        { 'node1 = "127.0.0.1:9001"\n\nnode3 = 9003\n',
            ":3: entry 'node3': expected \"host:port\" or false, got '9003' (not a string)" },
        { '__nowaiting = "yes"\n', ":1: option '__nowaiting': expected true or false, got 'yes'" },
        { 'node1 = "h:1"\n__heartbeat = 5\n',
            ":2: unknown option '__heartbeat' (skynet's __nowaiting is the only one)" },
        { '_ENV["a b"] = "h:1"\n', ":1: entry 'a b': a node name is 1 to 64 letters" },
    } do
        local path = write(case[1])
        at = string.format("config cluster = %q: %s", path, path)
        t.raises({ at .. case[2] }, cconfig.static_nodes, { cluster = path })
        os.remove(path)
    end
    local broken = write('node1 = "127.0.0.1:9001\n')
    t.raises({ string.format("config cluster = %q: ", broken), "unfinished string" },
        cconfig.load_file, broken)
    os.remove(broken)
    t.raises({ "config cluster = \"/nonexistent/cluster.lua\": ", "No such file" },
        cconfig.load_file, "/nonexistent/cluster.lua")

    -- cluster.reload(t): the same checks on a table.
    nodes = cconfig.check_nodes { a = "127.0.0.1:1", b = false }
    t.ok(t.same(nodes, { a = "127.0.0.1:1", b = false }), "a table")
    t.raises({ "entry 'a': expected \"host:port\" or false, got 'nope' (no port)" },
        cconfig.check_nodes, { a = "nope" })
end)
