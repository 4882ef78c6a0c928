-- skynet.cluster.frame: the frames of a link between two nodes, built and read in Lua (strings).
--
-- Wire frame: u32 big-endian body length L (1 <= L <= max_frame), then the body; byte 0 of the
-- body is its kind (docs/architecture.md, "Cluster links"):
--   1..15 control   (handshake, ping): the body after the kind is the kind's own fields
--   16 REQUEST      u32 session | u8 flags (1 push, 2 more parts) | u32 total | address | data
--   17 RESPONSE     u32 session | u8 flags (1 ok, 2 more parts)   | u32 total | data
--   18 PART         u32 session | u8 flags (1 of a response, 2 more parts) | data
--   address         u8 0 + u32 handle, or u8 1 + u8 length + name (".name", "@name")
-- A message larger than `part` bytes goes as a first frame and PART frames; parts of different
-- messages may interleave (small messages overtake a large one), so they are keyed by direction
-- and session. Nothing here yields or keeps global state; a reader (frame.reader) belongs to one
-- link. Thread: the owning service.
local spack, sunpack, format, type, concat = string.pack, string.unpack, string.format, type,
    table.concat

local frame = {
    HELLO = 1, CHALLENGE = 2, PROOF = 3, WELCOME = 4, REFUSE = 5, PING = 6, PONG = 7,
    REQUEST = 16, RESPONSE = 17, PART = 18,
    MAX_FRAME = 262144,
}

local REQUEST, RESPONSE, PART = frame.REQUEST, frame.RESPONSE, frame.PART
local F_PUSH, F_OK, F_MORE, F_OF_RESPONSE = 1, 1, 2, 1

local function framed(body)
    return spack(">I4", #body) .. body
end
frame.framed = framed

-- A control frame: kind, then its fields as s2 strings (or u8 numbers where a field is one).
function frame.control(kind, ...)
    return framed(spack(">B", kind) .. spack(">" .. string.rep("s2", select("#", ...)), ...))
end

-- The fields of a control body (strings), or nil, error text when they do not parse.
function frame.control_fields(body, n)
    local ok, a, b, c, d, e, f = pcall(sunpack, ">" .. string.rep("s2", n), body, 2)
    if not ok then return nil, format("control frame %d: truncated", body:byte(1)) end
    return a, b, c, d, e, f
end

local function address_field(address)
    if math.type(address) == "integer" then
        if address <= 0 or address > 0xffffffff then
            error(format("bad cluster address %d (a handle 1..0xffffffff)", address), 0)
        end
        return spack(">BI4", 0, address)
    elseif type(address) == "string" then
        if #address == 0 or #address > 255 then
            error(format("bad cluster address %q (a name of 1 to 255 bytes)", address), 0)
        end
        return spack(">Bs1", 1, address)
    end
    error(format("bad cluster address %s (a handle or a name expected)", tostring(address)), 0)
end

-- Appends the parts after the first `part` bytes of data to out.
local function parts(out, session, flag, data, part)
    local n = #data
    local i = part + 1
    while i <= n do
        local last = i + part - 1
        local more = last < n and F_MORE or 0
        out[#out + 1] = framed(spack(">BI4B", PART, session, flag | more) .. data:sub(i, last))
        i = last + 1
    end
end

-- The frames (strings) of a request: one when data fits in `part` bytes.
function frame.request(session, push, address, data, part)
    local n = #data
    local more = n > part and F_MORE or 0
    local head = spack(">BI4BI4", REQUEST, session, (push and F_PUSH or 0) | more, n)
        .. address_field(address)
    if more == 0 then return { framed(head .. data) } end
    local out = { framed(head .. data:sub(1, part)) }
    parts(out, session, 0, data, part)
    return out
end

-- The frames of a response (ok: data is the packed values; not ok: data is the error text).
function frame.response(session, ok, data, part)
    local n = #data
    local more = n > part and F_MORE or 0
    local head = spack(">BI4BI4", RESPONSE, session, (ok and F_OK or 0) | more, n)
    if more == 0 then return { framed(head .. data) } end
    local out = { framed(head .. data:sub(1, part)) }
    parts(out, session, F_OF_RESPONSE, data, part)
    return out
end

-- A reader of one link's frames: reader:body(body) takes one frame body and returns, once a
-- message is complete, kind, session, flag (push for a request, ok for a response), address
-- (requests), data; nil while a message waits for its parts. A control body returns kind, body.
-- Raises a text naming what is wrong with a malformed frame: the link must then close.
local reader_mt = {}
reader_mt.__index = reader_mt

function frame.reader(max_message)
    return setmetatable({ max_message = max_message, open = {}, nopen = 0 }, reader_mt)
end

-- Drops the partial messages (the link closed).
function reader_mt:reset()
    self.open, self.nopen = {}, 0
end

local function bad(fmt, ...)
    error(format(fmt, ...), 0)
end

function reader_mt:body(body)
    local kind = body:byte(1)
    if kind == nil then bad("empty cluster frame") end
    if kind < REQUEST then return kind, body end
    if kind > PART then bad("cluster frame of unknown kind %d", kind) end
    if #body < (kind == PART and 6 or 10) then bad("truncated cluster frame of kind %d", kind) end
    local session, flags, pos = sunpack(">I4B", body, 2)
    if kind == PART then
        local key = (flags & F_OF_RESPONSE ~= 0 and -session) or session
        local m = self.open[key]
        if not m then bad("cluster part of session %d without a first frame", session) end
        local n = #body - pos + 1
        m.got = m.got + n
        if m.got > m.total then
            bad("cluster message of session %d: parts exceed its %d bytes", session, m.total)
        end
        m[#m + 1] = body:sub(pos)
        if flags & F_MORE ~= 0 then return nil end
        self.open[key] = nil
        self.nopen = self.nopen - 1
        if m.got ~= m.total then
            bad("cluster message of session %d: %d bytes of %d", session, m.got, m.total)
        end
        return m.kind, session, m.flag, m.address, concat(m)
    end
    local total
    total, pos = sunpack(">I4", body, pos)
    if total > self.max_message then
        bad("cluster message of %d bytes: more than the maximum %d", total, self.max_message)
    end
    local address
    if kind == REQUEST then
        local ok, tag, p = pcall(sunpack, ">B", body, pos)
        local a
        if ok then
            if tag == 0 then
                ok, a, p = pcall(sunpack, ">I4", body, p)
            elseif tag == 1 then
                ok, a, p = pcall(sunpack, ">s1", body, p)
            else
                bad("cluster request of session %d: address of unknown type %d", session, tag)
            end
        end
        if not ok then bad("truncated cluster request of session %d", session) end
        address, pos = a, p
    end
    local flag = flags & 1 ~= 0
    local data = body:sub(pos)
    if flags & F_MORE == 0 then
        if #data ~= total then
            bad("cluster message of session %d: %d bytes of %d", session, #data, total)
        end
        return kind, session, flag, address, data
    end
    local key = kind == RESPONSE and -session or session
    if self.open[key] then bad("cluster message of session %d started twice", session) end
    if #data > total then
        bad("cluster message of session %d: parts exceed its %d bytes", session, total)
    end
    self.open[key] = { data, kind = kind, flag = flag, address = address, total = total,
        got = #data }
    self.nopen = self.nopen + 1
    return nil
end

return frame
