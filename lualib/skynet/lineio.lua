-- skynet.lineio: a bounded line reader for text protocols typed by people (telnet, nc), on top
-- of skynet.socket. What a hostile or merely odd client sends cannot grow the service:
--
--   * a line longer than `max` bytes is never kept whole: read answers it once with
--     false, "line too long (over <max> bytes)" and drops it up to its end;
--   * telnet commands are removed (IAC x, IAC WILL/WONT/DO/DONT opt, IAC SB ... IAC SE;
--     IAC IAC is a literal 255), whether or not the client is a telnet;
--   * LF, CR LF, CR alone and CR NUL each end a line, also when split across reads;
--   * after the client half-closes, a last line without its line end is still returned;
--   * with `hold`, while the socket's write queue is past its high-water mark (the socket
--     warning event; config socket_warning_kb) no line is returned and reading is paused, so a
--     client that sends without reading stops being served instead of filling the node's memory;
--     past `limit_kb` the connection is dropped with a log line naming the peer.
--
--   local reader = lineio.new(id, { max = 512, telnet = true, hold = true, peer = addr })
--   local line, err = reader:read()  -- line | false, err (over-long, skipped) | nil (closed)
--
-- lineio.printable(text [, keep]) replaces control bytes and bytes >= 0x80 with "?", for
-- anything that goes back to a terminal (keep: a string of the bytes to let through, e.g. "\n").
--
-- Thread: the service owning the socket; read yields (one coroutine at a time per reader).
local skynet = require "skynet"
local socket = require "skynet.socket"

local byte, find, sub, format, concat =
    string.byte, string.find, string.sub, string.format, table.concat

local IAC, SB, SE = 255, 250, 240
local WILL, DONT = 251, 254
-- Lines served from already-read bytes before the reader yields once, so that the warning
-- events of a socket whose client does not read are seen between lines.
local YIELD_EVERY = 16

local lineio = {}

-- Telnet command states: data, after IAC, after IAC WILL/WONT/DO/DONT, inside IAC SB, after IAC
-- inside IAC SB.
local DATA, CMD, OPT, SUB, SUB_IAC = 0, 1, 2, 3, 4

-- Removes telnet commands from chunk; the state carries a command split across chunks.
local function strip_telnet(chunk, state)
    if state == DATA and not find(chunk, "\255", 1, true) then return chunk, DATA end
    local out, n, pos, len = {}, 0, 1, #chunk
    while pos <= len do
        if state == DATA then
            local at = find(chunk, "\255", pos, true)
            if not at then
                n = n + 1
                out[n] = sub(chunk, pos)
                break
            end
            if at > pos then
                n = n + 1
                out[n] = sub(chunk, pos, at - 1)
            end
            state, pos = CMD, at + 1
        elseif state == SUB then
            local at = find(chunk, "\255", pos, true)
            if not at then break end
            state, pos = SUB_IAC, at + 1
        else
            local b = byte(chunk, pos)
            pos = pos + 1
            if state == CMD then
                if b == IAC then
                    n = n + 1
                    out[n] = "\255"
                    state = DATA
                elseif b == SB then
                    state = SUB
                elseif b >= WILL and b <= DONT then
                    state = OPT
                else
                    state = DATA
                end
            elseif state == OPT then
                state = DATA
            else -- SUB_IAC
                state = b == SE and DATA or SUB
            end
        end
    end
    return concat(out), state
end

local reader = {}
reader.__index = reader

-- Options: max (bytes per line, default 1024), telnet (strip telnet commands, default true),
-- hold (back-pressure, see above; default false), mark_kb (with hold: this socket's high-water
-- mark, see socket.warning_mark; default the config's socket_warning_kb), limit_kb (with hold:
-- the write-queue size that drops the client; default 4 x the mark), peer (named in log lines).
function lineio.new(id, options)
    options = options or {}
    local max = options.max or 1024
    assert(math.type(max) == "integer" and max > 0, "lineio.new: max must be a positive integer")
    local r = setmetatable({
        id = id,
        max = max,
        telnet = options.telnet ~= false,
        tstate = DATA,
        hold = options.hold,
        peer = options.peer or format("socket %d", id),
        chunk = "", -- bytes read and not yet split
        pos = 1, -- the next byte of chunk
        partial = "", -- the start of a line whose end has not arrived (at most max bytes)
        skipping = false, -- dropping an over-long line up to its end
        after_cr = false, -- the last line ended with CR: a LF or NUL right after belongs to it
        served = 0, -- lines returned since the last read or yield
    }, reader)
    if r.hold then
        local mark = options.mark_kb
        if mark then
            socket.warning_mark(id, mark)
        else
            mark = math.tointeger(tonumber(skynet.getenv "socket_warning_kb" or "")) or 1024
        end
        local limit = options.limit_kb or 4 * mark
        socket.warning(id, function(_, kb)
            if kb >= limit then
                skynet.error(format("%s: %d KB unsent (limit %d KB), the client does not read: " ..
                    "disconnecting", r.peer, kb, limit))
                socket.shutdown(id)
            elseif kb > 0 then
                skynet.error(format("%s: %d KB unsent: not reading until the client catches up",
                    r.peer, kb))
            end
        end)
    end
    return r
end

local function too_long(r)
    return false, format("line too long (over %d bytes)", r.max)
end

-- Before a line is handed out: lets warning events in now and then, and waits while the write
-- queue is past its mark. False once the socket can no longer be written.
local function ready(r)
    if not r.hold then return true end
    r.served = r.served + 1
    if r.served >= YIELD_EVERY then
        r.served = 0
        skynet.yield()
    end
    return socket.drain(r.id)
end

-- The next line, without its line end. -> line | false, error text (an over-long line, already
-- dropped: read again) | nil when the socket has closed (or, with hold, was dropped). Yields.
function reader:read()
    while true do
        local chunk, pos = self.chunk, self.pos
        if self.after_cr and pos <= #chunk then
            local b = byte(chunk, pos)
            if b == 10 or b == 0 then pos = pos + 1 end
            self.after_cr = false
        end
        if pos <= #chunk then
            local e = find(chunk, "[\r\n]", pos)
            if e then
                self.pos = e + 1
                self.after_cr = byte(chunk, e) == 13
                local line = sub(chunk, pos, e - 1)
                if self.partial ~= "" then line, self.partial = self.partial .. line, "" end
                if self.skipping then
                    self.skipping = false -- the end of an over-long line
                elseif #line > self.max then
                    return too_long(self)
                else
                    if not ready(self) then return nil end
                    return line
                end
            else
                self.chunk, self.pos = "", 1
                if not self.skipping then
                    local rest = sub(chunk, pos)
                    if #self.partial + #rest > self.max then
                        self.partial, self.skipping = "", true
                        return too_long(self)
                    end
                    self.partial = self.partial .. rest
                end
            end
        else
            self.chunk, self.pos, self.served = "", 1, 0
            local data = socket.read(self.id)
            if not data then
                -- Closed, or half-closed by the client: a last line may lack its line end.
                local last = self.partial
                self.partial = ""
                if last ~= "" and not self.skipping and ready(self) then return last end
                return nil
            end
            if self.telnet then data, self.tstate = strip_telnet(data, self.tstate) end
            self.chunk = data
        end
    end
end

function lineio.printable(text, keep)
    -- Most text is printable ASCII already: one anchored match over it (about 80 instructions
    -- a byte) instead of gsub's search and copy (about 260).
    if find(text, "^[ -~]*$") then return text end
    return (text:gsub("[%c\127-\255]", function(ch)
        if keep and find(keep, ch, 1, true) then return nil end
        return "?"
    end))
end

-- chunk without its telnet commands (one whole chunk; the reader keeps state across reads).
function lineio.strip_telnet(chunk)
    return (strip_telnet(chunk, DATA))
end

return lineio
