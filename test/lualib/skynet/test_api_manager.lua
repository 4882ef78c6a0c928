-- skynet.manager function by function, as skynet defines it (docs/lua-api.md, "skynet API
-- coverage"): each check fails when skyhive's behaviour diverges from skynet's.
local skynet = require "skynet"
local manager = require "skynet.manager"
local t = require "tlib"

t.run(function()
    t.eq(manager, skynet, "skynet.manager returns the skynet table")

    -- launch(module, ...): the handle at once, without waiting for the start function; the
    -- arguments are joined with spaces. helper_slow_start names itself in its main chunk.
    local h = skynet.launch("snlua", "helper_slow_start")
    t.ok(math.type(h) == "integer", "launch returns a handle")
    t.eq(skynet.localname ".slow_start", h, "the launched service ran its main chunk")
    t.eq(skynet.launch("snlua", "no_such_service_script"), nil, "launch of a missing script")
    t.eq(skynet.launch("no_such_module"), nil, "launch of an unknown module")

    t.ok(t.same(table.pack(skynet.launch " "), { n = 2, nil, "no module named" }),
        "launch of nothing")

    -- kill(handle) and kill(name).
    skynet.kill(h)
    t.wait_until(function() return skynet.localname ".slow_start" == nil end, 500, "kill(handle)")
    -- The module and its arguments in one string, as skynet code often writes it.
    local h1 = skynet.launch "snlua helper_slow_start"
    t.ok(math.type(h1) == "integer", "launch of one string")
    t.eq(skynet.localname ".slow_start", h1, "launch of one string ran the script")
    skynet.kill(h1)
    t.wait_until(function() return skynet.localname ".slow_start" == nil end, 500, "kill again")
    local h2 = skynet.launch("snlua", "helper_slow_start")
    skynet.kill ".slow_start"
    t.wait_until(function() return skynet.call(".launcher", "lua", "LIST")[skynet.address(h2)]
        == nil end, 500, "kill(name)")

    -- register(name) names this service; name(name, handle) another one.
    skynet.register ".api_manager"
    t.eq(skynet.localname ".api_manager", skynet.self(), "register")
    local echo = skynet.newservice "helper_echo"
    skynet.name(".api_echo", echo)
    t.eq(skynet.localname ".api_echo", echo, "name")
    t.eq(skynet.call(".api_echo", "lua", "echo", 7), 7, "a call by that name")
    t.raises({ "the name is taken" }, skynet.name, ".api_echo", skynet.self())
    -- A name without a dot is a harbor (global) name in skynet; here it is local to the node.
    skynet.name("APIECHO", echo)
    t.eq(skynet.localname "APIECHO", echo, "a global name is registered locally")

    -- The launcher's commands.
    local list = skynet.call(".launcher", "lua", "LIST")
    t.eq(list[skynet.address(echo)], "snlua helper_echo", "launcher LIST")
    local stat = skynet.call(".launcher", "lua", "STAT")
    t.ok(stat[skynet.address(echo)].mqlen == 0, "launcher STAT")

    -- abort is exercised by every test: tlib stops the node with skynet.abort(code).
    t.eq(type(skynet.abort), "function", "abort")

    -- Not provided (docs: differences table).
    for _, name in ipairs { "forward_type", "filter", "monitor" } do
        t.eq(skynet[name], nil, "not provided: skynet." .. name)
    end
end)
