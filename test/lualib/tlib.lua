-- Assertions and a runner for the Lua test services under test/lualib and test/services (not a
-- test itself).
--
-- tlib.run(body) starts the service: body runs in the start function with a watchdog; the node
-- stops with exit code 0 when it returns, or logs the failure with a traceback and stops with 1.
local skynet = require "skynet"

local tlib = {}

local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    return tostring(v)
end

function tlib.eq(actual, expected, what)
    if actual ~= expected then
        error(string.format("%s: expected %s, got %s", what or "value", show(expected), show(actual)), 2)
    end
end

function tlib.ok(cond, what)
    if not cond then error("check failed: " .. tostring(what), 2) end
    return cond
end

-- Calls f(...) and expects it to raise an error containing every given fragment (plain text).
-- Returns the error text.
function tlib.raises(fragments, f, ...)
    local ok, err = pcall(f, ...)
    if ok then error("expected an error containing '" .. table.concat(fragments, "', '") .. "'", 2) end
    err = tostring(err)
    for _, frag in ipairs(fragments) do
        if not err:find(frag, 1, true) then
            error(string.format("error %s lacks %s", show(err), show(frag)), 2)
        end
    end
    return err
end

-- Deep comparison of packable values (NaN equals NaN, -0.0 differs from 0.0 and integers from
-- floats).
function tlib.same(a, b)
    if type(a) ~= type(b) then return false end
    if type(a) == "number" then
        if math.type(a) ~= math.type(b) then return false end
        if a ~= a then return b ~= b end
        if a == 0 and math.type(a) == "float" then return 1 / a == 1 / b end
        return a == b
    end
    if type(a) ~= "table" then return a == b end
    for k, v in pairs(a) do
        if not tlib.same(v, b[k]) then return false end
    end
    for k in pairs(b) do
        if a[k] == nil then return false end
    end
    return true
end

-- How much slower than a plain build this run is expected to be (SKYHIVE_TEST_SLOWDOWN, a
-- number >= 1; the ThreadSanitizer stage sets it): tlib's own waits and watchdog stretch by it,
-- and a test scales any other time limit of its own by it.
tlib.slowdown = math.max(1, tonumber(os.getenv("SKYHIVE_TEST_SLOWDOWN")) or 1)

-- Polls cond every centisecond until it holds or `cs` (times tlib.slowdown) centiseconds pass.
function tlib.wait_until(cond, cs, what)
    local deadline = skynet.now() + math.ceil((cs or 500) * tlib.slowdown)
    while not cond() do
        if skynet.now() > deadline then error("timed out waiting for " .. tostring(what), 2) end
        skynet.sleep(1)
    end
end

-- A listener on 127.0.0.1 (a kernel-chosen port) that queues the ids it accepts, not started.
-- -> listener id, port, next_conn() (waits up to 5 s for the next accepted id and returns it).
function tlib.accepting()
    local socket = require "skynet.socket"
    local accepted = {}
    local listener, _, port = socket.listen("127.0.0.1", 0)
    socket.start(listener, function(id) accepted[#accepted + 1] = id end)
    local function next_conn()
        tlib.wait_until(function() return #accepted > 0 end, 500, "an accepted connection")
        return table.remove(accepted, 1)
    end
    return listener, port, next_conn
end

function tlib.run(body, watchdog_cs)
    skynet.start(function()
        skynet.timeout(math.ceil((watchdog_cs or 3000) * tlib.slowdown), function()
            skynet.error("FAIL " .. SERVICE_NAME .. ": watchdog expired (a coroutine never woke up?)")
            skynet.abort(1)
        end)
        local ok, err = xpcall(body, debug.traceback)
        if ok then
            skynet.error("PASS " .. SERVICE_NAME)
            skynet.abort(0)
        else
            skynet.error("FAIL " .. SERVICE_NAME .. ": " .. tostring(err))
            skynet.abort(1)
        end
    end)
end

return tlib
