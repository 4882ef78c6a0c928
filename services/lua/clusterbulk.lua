-- clusterbulk: sends the large messages of one link (started by its clusterlink, one per link),
-- so that framing them (a buffer and a copy per part, a socket command each: tens of ms for
-- 10 MB) never holds the link: the small calls queued behind a large one go out at once.
--
-- skynet.cluster sends a call or push whose arguments hold a long string here instead of to the
-- link, in the same form ("cluster" protocol, skynet.pack(address, ...)). While the link is up
-- and its send queue below its mark (the link tells this service with STATE), the message is
-- framed here with a session of this service's range (2^31 and up; the link's own sessions are
-- below) and its parts written at low priority on the link's socket. The link learns of the
-- call (BULK_SENT) before the first frame is written, so the answer, which comes to the link,
-- always finds it pending, and a connection lost meanwhile fails it as any call of the link.
-- Otherwise the message goes to the link as it is (queued while dialing, or failed with the
-- link's error). Thread: this service only.
local skynet = require "skynet"
local core = require "skynet.cluster.core"
local driver = require "skynet.socketdriver"

local link, peername = ...
link = math.tointeger(tonumber(link))

local format, pcall, tostring, select = string.format, pcall, tostring, select
local redirect, lsend, self_handle = skynet.redirect, driver.lsend, skynet.self()
local PTYPE_CLUSTER = 13
local FIRST_SESSION = 0x80000000

local out = nil       -- core.link framing the messages (CONF)
local id = false      -- the link's socket while it is up (STATE)
local full = false    -- the link's send queue is past its mark (STATE)
local next_ls = 0

local function new_session()
    next_ls = next_ls % 0x7fffffff + 1
    return FIRST_SESSION + next_ls
end

local function fail(source, session, text)
    if session > 0 then
        redirect(source, self_handle, "error", session, text)
    else
        skynet.error(format("cluster: send to node %s dropped: %s", peername, text))
    end
end

-- Writes the frames (n, buf1, sz1, ...; ownership moves) of session ls at low priority.
local function write(session, source, ls, ok, n, ...)
    if not ok then
        local text = tostring(n)
        if text:find("larger than cluster_max_message", 1, true) then
            text = format("node %s: %s", peername, text)
        end
        return fail(source, session, text)
    end
    if session > 0 then skynet.send(link, "lua", "BULK_SENT", ls, source, session, id) end
    for i = 1, 2 * n, 2 do
        local b, s = select(i, ...)
        lsend(id, b, s)
    end
end

skynet.register_protocol {
    name = "cluster", id = PTYPE_CLUSTER,
    -- msg belongs to the message being dispatched: framing copies it, nothing here yields.
    dispatch = function(session, source, msg, sz)
        if session > 0 then skynet.ignoreret() end
        if not id or full or not out then
            return redirect(link, source, "cluster", session, skynet.tostring(msg, sz))
        end
        local ls = new_session()
        return write(session, source, ls, pcall(out.request, out, ls, session == 0, msg, sz, true))
    end,
}

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, a, b)
        if cmd == "STATE" then
            id, full = a, b
        elseif cmd == "CONF" then
            out = core.link { max_message = a, part = b }
        else
            skynet.error(format("clusterbulk: unknown command %s", tostring(cmd)))
        end
    end)
end)
