-- SHA-1 of a string, as lowercase hex: the name Redis gives a script (EVALSHA). Computed locally
-- so a script object knows its SHA before the server has seen it. Does not yield.
local string_pack, string_unpack, format, rep = string.pack, string.unpack, string.format, string.rep

local MASK = 0xffffffff

local function rol(x, n)
    return ((x << n) | (x >> (32 - n))) & MASK
end

return function(msg)
    local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
    local len = #msg
    -- Padding: 0x80, zeros up to 56 mod 64, then the bit length as a big-endian u64.
    msg = msg .. "\128" .. rep("\0", (55 - len) % 64) .. string_pack(">I8", len * 8)
    local w = {}
    for chunk = 1, #msg, 64 do
        for i = 0, 15 do
            w[i] = string_unpack(">I4", msg, chunk + i * 4)
        end
        for i = 16, 79 do
            w[i] = rol(w[i - 3] ~ w[i - 8] ~ w[i - 14] ~ w[i - 16], 1)
        end
        local a, b, c, d, e = h0, h1, h2, h3, h4
        for i = 0, 79 do
            local f, k
            if i < 20 then
                f, k = (b & c) | ((~b) & d), 0x5A827999
            elseif i < 40 then
                f, k = b ~ c ~ d, 0x6ED9EBA1
            elseif i < 60 then
                f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
            else
                f, k = b ~ c ~ d, 0xCA62C1D6
            end
            local t = (rol(a, 5) + (f & MASK) + e + k + w[i]) & MASK
            a, b, c, d, e = t, a, rol(b, 30), c, d
        end
        h0 = (h0 + a) & MASK
        h1 = (h1 + b) & MASK
        h2 = (h2 + c) & MASK
        h3 = (h3 + d) & MASK
        h4 = (h4 + e) & MASK
    end
    return format("%08x%08x%08x%08x%08x", h0, h1, h2, h3, h4)
end
