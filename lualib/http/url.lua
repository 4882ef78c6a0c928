-- http.url: the path and query of a request target (skynet's http.url).
--
--   url.parse(u) -> path (percent-decoded), query (the raw text after "?", "" when none)
--   url.parse_query(q) -> { name = value }   names and values percent-decoded, "+" as a space;
--                                            a name without "=" maps to ""; the last of
--                                            repeated names wins
--   url.decode(s), url.encode(s)             percent-decoding (invalid escapes are kept as they
--                                            are) and encoding of all but [A-Za-z0-9_.~-]
--
-- Thread: any service; nothing yields.
local tonumber, char, byte, format = tonumber, string.char, string.byte, string.format

local url = {}

local function unescape(hex)
    return char(tonumber(hex, 16))
end

local function decode(s)
    return (s:gsub("%%(%x%x)", unescape))
end

function url.decode(s)
    return decode(s)
end

function url.encode(s)
    return (s:gsub("[^%w_%.~%-]", function(c) return format("%%%02X", byte(c)) end))
end

function url.parse(u)
    local path, query = u:match "^([^?]*)%??(.*)$"
    return decode(path), query
end

function url.parse_query(q)
    local r = {}
    for pair in q:gmatch "[^&]+" do
        local k, v = pair:match "^([^=]*)=(.*)$"
        if not k then k, v = pair, "" end
        r[decode(k:gsub("%+", " "))] = decode(v:gsub("%+", " "))
    end
    return r
end

return url
