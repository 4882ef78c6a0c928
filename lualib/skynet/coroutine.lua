-- skynet.coroutine: coroutines that may call skynet's blocking functions (call, sleep, wait...)
-- while being driven by user code with resume/yield.
--
-- A coroutine made here yields in two ways. skynet.coroutine.yield(...) goes to whoever resumed
-- it, as coroutine.yield would. A yield of the framework (the coroutine waits for a message) is
-- passed up through the resumer to the scheduler; meanwhile status() is "blocked" and resume()
-- refuses, and the scheduler's answer is passed back down when the message arrives.
local coroutine = coroutine
local resume, yield, status, create = coroutine.resume, coroutine.yield, coroutine.status, coroutine.create
local select, error = select, error

local skynetco = {
    isyieldable = coroutine.isyieldable,
    running = coroutine.running,
    close = coroutine.close,
}

local ours = setmetatable({}, { __mode = "k" })  -- coroutine -> true, or "blocked"
local caller = setmetatable({}, { __mode = "kv" })  -- coroutine -> the message coroutine under it

function skynetco.create(f)
    local co = create(f)
    ours[co] = true
    return co
end

local outcome

local function resume_unblocked(co, ...)
    ours[co] = true
    return outcome(co, resume(co, ...))
end

function outcome(co, ok, ...)
    if not ok then
        ours[co] = nil
        return false, ...
    end
    if status(co) == "dead" then
        ours[co] = nil
        return true, ...
    end
    if (...) == "USER" then return true, select(2, ...) end
    -- The framework suspended it: suspend ourselves the same way, then hand the answer down.
    ours[co] = "blocked"
    return resume_unblocked(co, yield(...))
end

-- Only coroutines made by create (or wrap) resume here, as in skynet: a plain coroutine would
-- pass the framework's yields to this resumer instead of the scheduler.
function skynetco.resume(co, ...)
    local state = ours[co]
    if state == nil then
        if status(co) == "dead" then return resume(co, ...) end  -- false, "cannot resume dead..."
        return false, "cannot resume a coroutine not made by skynet.coroutine.create"
    end
    if state == "blocked" then
        return false, "cannot resume a skynet coroutine while it waits for a message"
    end
    local from = coroutine.running()
    caller[co] = caller[from] or from
    return outcome(co, resume(co, ...))
end

-- thread([co]) -> the message coroutine that runs co and false, for a coroutine of this module;
-- co itself and true otherwise (co defaults to the running one).
function skynetco.thread(co)
    co = co or coroutine.running()
    if ours[co] ~= nil then return caller[co], false end
    return co, true
end

function skynetco.status(co)
    if ours[co] == "blocked" then return "blocked" end
    return status(co)
end

function skynetco.yield(...)
    return yield("USER", ...)
end

local function unwrap(ok, ...)
    if not ok then error((...), 2) end
    return ...
end

function skynetco.wrap(f)
    local co = skynetco.create(f)
    return function(...) return unwrap(skynetco.resume(co, ...)) end
end

return skynetco
