-- A request of skynet.db.redis: what a connection's issue() sends and await() waits for, and
-- the wakeup token of the coroutine that waits. request.new is the one place that builds one;
-- the connection, the Sentinel router and the client fill in the rest as it travels.
--
-- Fields:
--   [1] name     name for error texts ("GET", "pipeline", "MULTI/EXEC", "handshake")
--   [2] want     replies it takes from the FIFO (1 for a command, n for a batch)
--   args         table.pack of one command's words, the command first; dropped once encoded
--   cmds         a batch: the list of its commands' argument lists
--   wire         a batch encoded ahead (a pipeline builder's bytes), sent as it is; [2] commands
--   timeout_cs   centiseconds it may take; nil = the connection's timeout, false = none
--   value        the reply of a single command, or the list of replies of a batch
--   err          text, set when it failed without replies (timeout, connection lost...)
--   deadline     skynet.now() in centiseconds after which it fails, or nil
--   done         true once value or err is set (late replies are then dropped)
-- The Sentinel router adds its own (safe, via, keep, held, hold_deadline).
--
-- Thread: the owning service.
local type = type

local request = {}

-- The constructors below name the fields a request takes on its way (as nil: a nil field adds
-- nothing but its room), so that the table is made with room for them. Filled in one by one, a
-- request's hash part was rebuilt three or four times (callgrind: about 130 instructions a
-- command of a pipeline of 16).

-- new(name, args [, timeout_cs]): one command; args = {"GET", "k", n = 2} (table.pack).
-- new(name, cmds [, timeout_cs]): a batch; cmds = a non-empty list of argument lists (`n`
-- optional in each), answered by one list of replies.
function request.new(name, body, timeout_cs)
    if type(body[1]) == "table" then return request.batch(name, body, timeout_cs) end
    return { name, 1, nil, args = body, timeout_cs = timeout_cs, deadline = nil, done = nil,
        value = nil }
end

-- batch(name, cmds [, timeout_cs]): a batch whatever cmds holds, for lists the caller wrote
-- (db:pipeline), whose commands are checked as they are encoded.
function request.batch(name, cmds, timeout_cs)
    return { name, #cmds, nil, cmds = cmds, timeout_cs = timeout_cs, refusal = nil,
        deadline = nil, done = nil, value = nil }
end

-- wire(name, bytes, count [, timeout_cs]): a batch of `count` commands encoded ahead (a
-- pipeline builder's), answered by one list of replies.
function request.wire(name, bytes, count, timeout_cs)
    return { name, count, nil, wire = bytes, timeout_cs = timeout_cs, deadline = nil, done = nil,
        value = nil }
end

return request
