-- The life cycle of a skynet.db.redis connection (see connection.lua for its state and request
-- layout): the first connect, the AUTH/SELECT/CLIENT SETNAME handshake, dropping a broken socket,
-- the reconnect loop with backoff, and closing for good.
--
-- Thread: the owning service; functions marked "yields" must run in a coroutine.
local skynet = require "skynet"
local transport = require "skynet.db.redis.transport"

local format, random = string.format, math.random
local skynet_now, wait, fork = skynet.now, skynet.wait, skynet.fork

-- Adds the life-cycle methods to the connection class `conn`; `h` lends connection.lua's local
-- helpers (send_request, start_ticker, finish, ms_to_cs, is_error).
return function(conn, h)
    local send_request, start_ticker, finish, ms_to_cs, is_error =
        h.send_request, h.start_ticker, h.finish, h.ms_to_cs, h.is_error
    ----------------------------------------------------------------------------------------------
    -- Connecting

    -- Sends the handshake (AUTH, SELECT, CLIENT SETNAME) and waits for it. Returns nil or the
    -- error text. Yields.
    local function handshake(self)
        local cmds = {}
        if self.auth then
            if self.username then
                cmds[#cmds + 1] = { "AUTH", self.username, self.auth, n = 3 }
            else
                cmds[#cmds + 1] = { "AUTH", self.auth, n = 2 }
            end
        end
        if self.db and self.db ~= 0 then cmds[#cmds + 1] = { "SELECT", self.db, n = 2 } end
        if self.name then cmds[#cmds + 1] = { "CLIENT", "SETNAME", self.name, n = 3 } end
        if #cmds == 0 then return nil end
        local r = { "handshake", #cmds, cmds = cmds, timeout_cs = ms_to_cs(self.connect_timeout) }
        r.deadline = skynet_now() + r.timeout_cs
        send_request(self, r)
        start_ticker(self)
        if not r.done then wait(r) end
        if r.err then
            if not self.sock then return self.cause end
            return format("%s: no reply within %d ms", cmds[1][1], self.connect_timeout)
        end
        for i = 1, #cmds do
            local v = r.value[i]
            if is_error(v) then
                local name = cmds[i][1]
                if name == "CLIENT" then name = "CLIENT SETNAME" end
                return name .. ": " .. v.err
            end
        end
    end

    -- Moves the backlog into the buffer and the FIFO, in issue order.
    local function release_backlog(self)
        local b = self.backlog
        for i = self.bhead, self.btail do
            local r = b[i]
            b[i] = nil
            if not r.done then
                local ok, err = pcall(send_request, self, r)
                if not ok then
                    r.err = err
                    finish(r)
                end
            end
        end
        self.bhead, self.btail = 1, 0
    end

    -- One attempt: connect, framed mode, handshake. Returns true, or nil and the cause (a text
    -- without the server's name). Yields.
    function conn:attempt()
        local sock, err = transport.open(self.host, self.port, self, self.connect_timeout,
            self.limits)
        if not sock then
            return nil, "connect: " .. err
        end
        if self.state == "closed" then
            transport.close(sock)
            return nil, "the client was closed"
        end
        self.sock = sock
        self.last_rx = skynet_now()
        self.state = "handshake"
        local herr = handshake(self)
        if herr then
            self:drop(herr)
            return nil, herr
        end
        if self.state ~= "handshake" then
            return nil, self.cause
        end
        self.state = "ready"
        self.cause = nil
        self.attempts = 0
        if self.on_ready then self.on_ready(self) end
        release_backlog(self)
        return true
    end

    -- Connects for the first time; raises the failure (nothing retries it). Yields.
    function conn:connect()
        local ok, err = self:attempt()
        if not ok then
            self.state = "closed"
            self:fail_backlog(err)
            error(self.addr .. ": " .. err, 0)
        end
    end

    function conn:fail_backlog(cause)
        local b = self.backlog
        for i = self.bhead, self.btail do
            local r = b[i]
            b[i] = nil
            if not r.done then
                r.err = self:failure(r[1], cause)
                finish(r)
            end
        end
        self.bhead, self.btail = 1, 0
    end

    -- The socket is gone (or must go): fail what is in flight and, unless closed, reconnect.
    -- `cause` says why, without the server's name ("connection lost (...)").
    function conn:drop(cause)
        local sock = self.sock
        self.sock = nil
        if sock then transport.close(sock) end
        self.buf:reset()
        self.flush_pending = false
        if self.state ~= "closed" then self.state = "down" end
        self.cause = cause
        self:fail_inflight(cause)
        if self.state == "down" and not self.reconnecting then
            self.reconnecting = true
            fork(self.reconnect_loop, self)
        end
    end

    -- Called by the transport when the socket ends on its own (peer close, error, malformed RESP).
    function conn:on_close(text)
        if not self.sock then return end
        self.sock = nil
        self:drop("connection lost (" .. text .. ")")
    end

    -- Exponential backoff with jitter: the n-th wait is uniform in [d/2, d] with d = min(max,
    -- min * 2^n), so many clients of one restarted server do not reconnect in lockstep.
    function conn:reconnect_loop()
        local attempt = 0
        while self.state == "down" do
            local d = math.min(self.backoff_max, self.backoff_min * (1 << math.min(attempt, 20)))
            local ms = d // 2 + random(0, d - d // 2)
            skynet.sleep(ms_to_cs(ms))
            if self.state ~= "down" then break end
            attempt = attempt + 1
            local ok, err = self:attempt()
            if not ok then
                self.cause = err
                if self.state == "handshake" then self.state = "down" end
            end
        end
        self.reconnecting = false
    end

    -- Closes for good: the backlog and the requests in flight fail. Does not yield.
    function conn:close()
        if self.state == "closed" then return end
        self.state = "closed"
        local sock = self.sock
        self.sock = nil
        if sock then
            -- What was issued this tick still goes out before the FIN.
            self:flush()
            transport.close(sock)
        end
        self.cause = "the client was closed"
        self:fail_inflight("the client was closed")
        self:fail_backlog("the client was closed")
    end
end
