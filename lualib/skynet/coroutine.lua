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

function skynetco.resume(co, ...)
    local state = ours[co]
    if state == nil then return resume(co, ...) end  -- a plain coroutine
    if state == "blocked" then
        return false, "cannot resume a skynet coroutine while it waits for a message"
    end
    return outcome(co, resume(co, ...))
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
