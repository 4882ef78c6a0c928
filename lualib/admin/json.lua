-- JSON for the admin endpoint: an encoder of plain Lua values and a strict decoder (the tests
-- read the endpoint's answers with it). Neither yields; both may be called from any service.
--
-- encode(value) -> text. nil and json.null are null; booleans, strings and finite numbers are
-- themselves (integers without a fraction; NaN and the infinities, which JSON lacks, become
-- null); a table with only the keys 1..n (n >= 1) is an array, any other table an object whose
-- keys (strings, or numbers written as strings) come out sorted, so the same value always gives
-- the same text. An empty table is {} unless made with json.array(). Strings are written as
-- UTF-8 with ", \ and the control characters escaped; a byte that is not part of valid UTF-8
-- becomes U+FFFD, so the output is always valid JSON. A table that contains itself, a key that
-- is neither a string nor a number, or a function, userdata or thread raises an error naming
-- where it is ("json: $.services[3].name: ...").
--
-- decode(text) -> value. Objects and arrays become tables (arrays marked as json.array), null
-- becomes json.null. Anything that is not one JSON value raises an error with the byte offset.
local json = {}

local char, concat, format = string.char, table.concat, string.format
local mtype = math.type

json.null = setmetatable({}, { __tostring = function() return "null" end })

local array_mt = { __name = "json.array" }

-- Marks t (a new table when nil) as an array, so that it encodes as [] when empty.
function json.array(t)
    return setmetatable(t or {}, array_mt)
end

function json.is_array(t)
    return getmetatable(t) == array_mt
end

local MAX_DEPTH = 64

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
for i = 0, 31 do
    local c = char(i)
    if not escapes[c] then escapes[c] = format("\\u%04x", i) end
end
escapes["\127"] = "\\u007f"

-- The valid UTF-8 of s, each byte that does not belong to a valid sequence replaced by U+FFFD.
local function valid_utf8(s)
    if utf8.len(s) then return s end
    local out, i, n = {}, 1, #s
    while i <= n do
        -- utf8.len in its default (strict) mode refuses surrogates and code points past
        -- U+10FFFF, as JSON does.
        if utf8.len(s, i, i) then
            local len = #utf8.char(utf8.codepoint(s, i))
            out[#out + 1] = s:sub(i, i + len - 1)
            i = i + len
        else
            out[#out + 1] = "\u{FFFD}"
            i = i + 1
        end
    end
    return concat(out)
end

local function encode_string(s)
    -- Most strings (names, addresses) need neither escaping nor repair.
    if not s:find('[%c"\\\128-\255]') then return '"' .. s .. '"' end
    return '"' .. valid_utf8(s):gsub('[%c"\\]', escapes) .. '"'
end

local function encode_number(n)
    if mtype(n) == "integer" then return tostring(n) end
    if n ~= n or n == math.huge or n == -math.huge then return "null" end
    if n == math.floor(n) and n >= -2 ^ 53 and n <= 2 ^ 53 then
        return format("%d", n)
    end
    local s = format("%.14g", n)
    if tonumber(s) ~= n then s = format("%.17g", n) end
    return s
end

-- Encoded object keys, which repeat from one object to the next ("address", "messages"...).
local key_cache, key_count = {}, 0

local function encode_key(k)
    local e = key_cache[k]
    if e then return e end
    e = encode_string(k) .. ":"
    if key_count >= 4096 then key_cache, key_count = {}, 0 end
    key_cache[k], key_count = e, key_count + 1
    return e
end

-- The output and the path to the value being encoded (raw keys and indexes, turned into text
-- only for an error). json.encode does not yield, so one of each serves every call.
local out, n_out, path, depth, seen

local function where()
    local parts = { "$" }
    for i = 1, depth do
        local k = path[i]
        parts[#parts + 1] = mtype(k) == "integer" and "[" .. k .. "]" or "." .. tostring(k)
    end
    return concat(parts)
end

local function is_sequence(t)
    local n = #t
    if n == 0 then return false end
    local count = 0
    for k in pairs(t) do
        if mtype(k) ~= "integer" or k < 1 or k > n then return false end
        count = count + 1
    end
    return count == n
end

local encode_value

local function encode_table(t)
    if seen[t] then error(format("json: %s: a table that contains itself", where()), 0) end
    if depth >= MAX_DEPTH then
        error(format("json: %s: nested deeper than %d", where(), MAX_DEPTH), 0)
    end
    seen[t] = true
    depth = depth + 1
    if getmetatable(t) == array_mt or is_sequence(t) then
        n_out = n_out + 1
        out[n_out] = "["
        for i = 1, #t do
            if i > 1 then
                n_out = n_out + 1
                out[n_out] = ","
            end
            path[depth] = i
            encode_value(t[i])
        end
        n_out = n_out + 1
        out[n_out] = "]"
    else
        local keys, numbers = {}, nil
        for k in pairs(t) do
            local kt = type(k)
            if kt == "number" then
                numbers = numbers or {}
                numbers[encode_number(k)] = k
                keys[#keys + 1] = encode_number(k)
            elseif kt == "string" then
                keys[#keys + 1] = k
            else
                depth = depth - 1
                error(format("json: %s: a key of type %s (only strings and numbers)", where(),
                    kt), 0)
            end
        end
        table.sort(keys)
        n_out = n_out + 1
        out[n_out] = "{"
        for i = 1, #keys do
            local k = keys[i]
            n_out = n_out + 1
            out[n_out] = i > 1 and "," .. encode_key(k) or encode_key(k)
            local original = numbers and numbers[k] or k
            path[depth] = original
            encode_value(t[original])
        end
        n_out = n_out + 1
        out[n_out] = "}"
    end
    path[depth] = nil
    depth = depth - 1
    seen[t] = nil
end

encode_value = function(v)
    local vt = type(v)
    local text
    if vt == "string" then
        text = encode_string(v)
    elseif vt == "number" then
        text = encode_number(v)
    elseif v == nil or v == json.null then
        text = "null"
    elseif vt == "boolean" then
        text = v and "true" or "false"
    elseif vt == "table" then
        return encode_table(v)
    else
        error(format("json: %s: a value of type %s cannot be encoded", where(), vt), 0)
    end
    n_out = n_out + 1
    out[n_out] = text
end

function json.encode(value)
    out, n_out, path, depth, seen = {}, 0, {}, 0, {}
    encode_value(value)
    local text = concat(out, "", 1, n_out)
    out, path, seen = nil, nil, nil
    return text
end

----------------------------------------------------------------------------------------------
-- Decoding

local function fail(pos, what)
    error(format("json: at byte %d: %s", pos, what), 0)
end

local function skip(s, pos)
    return s:find("[^ \t\r\n]", pos) or #s + 1
end

local decode_value

local function decode_string(s, pos)
    -- pos is at the opening quote.
    local out, i = {}, pos + 1
    while true do
        local j = s:find('["\\%c]', i)
        if not j then fail(pos, "a string without its closing quote") end
        out[#out + 1] = s:sub(i, j - 1)
        local c = s:sub(j, j)
        if c == '"' then
            local text = concat(out)
            if not utf8.len(text) then fail(pos, "a string that is not valid UTF-8") end
            return text, j + 1
        elseif c == "\\" then
            local e = s:sub(j + 1, j + 1)
            local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                n = "\n", r = "\r", t = "\t" })[e]
            if simple then
                out[#out + 1] = simple
                i = j + 2
            elseif e == "u" then
                local hex = s:match("^%x%x%x%x", j + 2)
                if not hex then fail(j, "a \\u escape without four hex digits") end
                local cp = tonumber(hex, 16)
                i = j + 6
                if cp >= 0xD800 and cp <= 0xDBFF then
                    local low = s:match("^\\u(%x%x%x%x)", i)
                    low = low and tonumber(low, 16)
                    if not low or low < 0xDC00 or low > 0xDFFF then
                        fail(j, "a high surrogate without its low half")
                    end
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                    i = i + 6
                elseif cp >= 0xDC00 and cp <= 0xDFFF then
                    fail(j, "a low surrogate without its high half")
                end
                out[#out + 1] = utf8.char(cp)
            else
                fail(j, "an unknown escape \\" .. e)
            end
        else
            fail(j, "a control character inside a string")
        end
    end
end

local function decode_number(s, pos)
    local text = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not text or not text:match("^-?0$") and not text:match("^-?[1-9]") and
        not text:match("^-?0[.eE]") then
        fail(pos, "a malformed number")
    end
    if text:match("%.$") or text:match("%.[eE]") or text:match("[eE][-+]?$") then
        fail(pos, "a malformed number")
    end
    local n = (text:find("[.eE]") and tonumber(text)) or math.tointeger(tonumber(text)) or
        tonumber(text)
    if not n then fail(pos, "a malformed number") end
    return n, pos + #text
end

decode_value = function(s, pos, depth)
    if depth > MAX_DEPTH then fail(pos, "nested deeper than " .. MAX_DEPTH) end
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "{" then
        local t = {}
        pos = skip(s, pos + 1)
        if s:sub(pos, pos) == "}" then return t, pos + 1 end
        while true do
            if s:sub(pos, pos) ~= '"' then fail(pos, "an object key that is not a string") end
            local k
            k, pos = decode_string(s, pos)
            pos = skip(s, pos)
            if s:sub(pos, pos) ~= ":" then fail(pos, "a missing ':' after an object key") end
            t[k], pos = decode_value(s, pos + 1, depth + 1)
            pos = skip(s, pos)
            local d = s:sub(pos, pos)
            if d == "}" then return t, pos + 1 end
            if d ~= "," then fail(pos, "a missing ',' or '}' in an object") end
            pos = skip(s, pos + 1)
        end
    elseif c == "[" then
        local t = json.array()
        pos = skip(s, pos + 1)
        if s:sub(pos, pos) == "]" then return t, pos + 1 end
        while true do
            t[#t + 1], pos = decode_value(s, pos, depth + 1)
            pos = skip(s, pos)
            local d = s:sub(pos, pos)
            if d == "]" then return t, pos + 1 end
            if d ~= "," then fail(pos, "a missing ',' or ']' in an array") end
            pos = pos + 1
        end
    elseif c == '"' then
        return decode_string(s, pos)
    elseif c == "-" or c:match("%d") then
        return decode_number(s, pos)
    elseif s:sub(pos, pos + 3) == "true" then
        return true, pos + 4
    elseif s:sub(pos, pos + 4) == "false" then
        return false, pos + 5
    elseif s:sub(pos, pos + 3) == "null" then
        return json.null, pos + 4
    elseif c == "" then
        fail(pos, "the text ends where a value was expected")
    end
    fail(pos, "an unexpected character '" .. c .. "'")
end

function json.decode(text)
    assert(type(text) == "string", "json.decode: a string expected")
    local value, pos = decode_value(text, 1, 0)
    pos = skip(text, pos)
    if pos <= #text then fail(pos, "text after the value") end
    return value
end

return json
