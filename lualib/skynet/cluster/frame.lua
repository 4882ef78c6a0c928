-- skynet.cluster.frame: the control frames of a link between two nodes (handshake, ping).
--
-- A frame is a u32 big-endian body length, then the body; byte 0 of the body is its kind. Kinds
-- 1..15 are control frames, built and read here: their fields are u16-length strings. Kinds 16..18
-- (REQUEST, RESPONSE, PART) carry calls and are built and read by skynet.cluster.core (the layout
-- is in lualib/native/cluster_codec.h and docs/architecture.md). Nothing here yields or keeps
-- state.
local spack, sunpack, rep, format = string.pack, string.unpack, string.rep, string.format

local frame = {
    HELLO = 1,      -- version, name, epoch, nonce_d [, max_d]     dialer -> acceptor
    CHALLENGE = 2,  -- name, epoch, nonce_a, mac_a [, max_a]        acceptor -> dialer
    PROOF = 3,      -- mac_d                                        dialer -> acceptor
    WELCOME = 4,    -- (none)                                       acceptor -> dialer
    REFUSE = 5,     -- text                                         either, then close
    PING = 6,       -- (none)                                       either, on an idle link
    PONG = 7,       -- (none)                                       the answer to PING
    VERSION = "1",
}

-- The wire bytes of a control frame: kind, then each field as a u16-length string.
function frame.control(kind, ...)
    local body = spack(">B" .. rep("s2", select("#", ...)), kind, ...)
    return spack(">I4", #body) .. body
end

-- The n fields of a control body given without its kind byte (up to 5); nil, error text when
-- truncated. A field past the n is not read: a later version may add one (HELLO and CHALLENGE
-- carry the sender's cluster_max_message as a fifth, which frame.extra reads).
function frame.fields(kind, body, n)
    local ok, a, b, c, d, e = pcall(sunpack, ">" .. rep("s2", n), body)
    if not ok then return nil, format("control frame %d: truncated", kind) end
    return a, b, c, d, e
end

-- Field n + 1 of a body with n fields at least, or nil when the sender sent none (an older
-- version) or it is malformed.
function frame.extra(body, n)
    local r = table.pack(pcall(sunpack, ">" .. rep("s2", n + 1), body))
    if not r[1] then return nil end
    return r[n + 2]
end

return frame
