-- lualib/admin/json.lua: what the encoder writes for every kind of value (the dashboard and
-- promtool-free scripts read it), that its output is always valid JSON whatever bytes a service
-- name holds, that it names where a value cannot be encoded, and that the decoder reads back
-- what the encoder wrote and refuses what is not JSON, naming the byte.
local json = require "admin.json"
local t = require "tlib"

local function decodes_to(text, expected)
    t.eq(json.encode(json.decode(text)), expected, "decode/encode of " .. text)
end

t.run(function()
    -- Scalars.
    t.eq(json.encode(nil), "null", "nil")
    t.eq(json.encode(json.null), "null", "json.null")
    t.eq(json.encode(true), "true", "true")
    t.eq(json.encode(false), "false", "false")
    t.eq(json.encode(42), "42", "integer")
    t.eq(json.encode(-7), "-7", "negative integer")
    t.eq(json.encode(1.5), "1.5", "float")
    t.eq(json.encode(3.0), "3", "integral float")
    t.eq(json.encode(0.1), "0.1", "shortest form that reads back")
    t.eq(json.decode(json.encode(1 / 3)), 1 / 3, "a float reads back exactly")
    t.eq(json.encode(1e300), "1e+300", "large float")
    t.eq(json.encode(0 / 0), "null", "NaN has no JSON form")
    t.eq(json.encode(math.huge), "null", "infinity has no JSON form")
    t.eq(json.encode(math.mininteger), tostring(math.mininteger), "smallest integer")

    -- Strings: quotes, backslashes and control characters escaped; UTF-8 kept.
    t.eq(json.encode('a"b\\c'), '"a\\"b\\\\c"', "quote and backslash")
    t.eq(json.encode("\n\r\t\b\f"), '"\\n\\r\\t\\b\\f"', "short escapes")
    t.eq(json.encode("\0\1\31\127"), '"\\u0000\\u0001\\u001f\\u007f"', "other control bytes")
    t.eq(json.encode("héllo ☃ 😀"), '"héllo ☃ 😀"', "UTF-8 as is")
    t.eq(json.encode("</script>"), '"</script>"', "slash needs no escape")
    -- Bytes that are not UTF-8 (a service's arguments may hold any) become U+FFFD, one each.
    t.eq(json.encode("a\255b\192"), '"a\u{FFFD}b\u{FFFD}"', "invalid bytes")
    t.eq(json.encode("\237\160\128"), '"\u{FFFD}\u{FFFD}\u{FFFD}"', "a UTF-16 surrogate")
    t.eq(json.encode("\226\152"), '"\u{FFFD}\u{FFFD}"', "a truncated sequence")

    -- Tables: sequences are arrays, the rest objects with sorted keys.
    t.eq(json.encode { 1, "two", false }, '[1,"two",false]', "array")
    t.eq(json.encode { b = 1, a = { c = 2 }, [10] = "x" }, '{"10":"x","a":{"c":2},"b":1}',
        "object, keys sorted, number keys as text")
    t.eq(json.encode { [1] = "a", [3] = "c" }, '{"1":"a","3":"c"}', "a sparse table is an object")
    t.eq(json.encode {}, "{}", "empty table")
    t.eq(json.encode(json.array()), "[]", "empty array")
    t.eq(json.encode { list = json.array {} }, '{"list":[]}', "nested empty array")

    -- What cannot be encoded is named by its place.
    local loop = {}
    loop.self = loop
    t.raises({ "json: $.a[2].self: a table that contains itself" }, json.encode,
        { a = { 1, loop } })
    t.raises({ "json: $.f: a value of type function cannot be encoded" }, json.encode,
        { f = print })
    t.raises({ "json: $: a key of type boolean" }, json.encode, { [true] = 1 })
    local deep = {}
    local at = deep
    for _ = 1, 70 do
        at[1] = {}
        at = at[1]
    end
    t.raises({ "nested deeper than 64" }, json.encode, deep)
    -- A table met twice (not inside itself) is fine.
    local shared = { 1 }
    t.eq(json.encode { shared, shared }, "[[1],[1]]", "a shared table")

    -- Decoding.
    decodes_to(' { "a" : [1, 2.5, -3e2, true, false, null, "x"], "b": {} , "c":[]} ',
        '{"a":[1,2.5,-300,true,false,null,"x"],"b":{},"c":[]}')
    t.eq(json.decode('"\\u00e9\\ud83d\\ude00\\/"'), "é😀/", "escapes and surrogate pairs")
    t.eq(math.type(json.decode("12")), "integer", "an integer stays one")
    t.eq(math.type(json.decode("12.0")), "float", "a float stays one")
    t.ok(json.is_array(json.decode("[]")), "an empty array is marked")
    local value = { name = "a\"b", list = { 1, 2, { x = json.null } }, n = 0.25 }
    t.ok(t.same(json.decode(json.encode(value)).list[3].x, json.null), "null reads back")
    t.eq(json.encode(json.decode(json.encode(value))), json.encode(value), "round trip")

    for _, case in ipairs {
        { "", "at byte 1: the text ends where a value was expected" },
        { "{", "at byte 2: an object key that is not a string" },
        { "[1,]", "at byte 4: an unexpected character ']'" },
        { "[1 2]", "at byte 4: a missing ',' or ']' in an array" },
        { '{"a" 1}', "at byte 6: a missing ':' after an object key" },
        { '{"a":1 "b":2}', "at byte 8: a missing ',' or '}' in an object" },
        { "01", "at byte 1: a malformed number" },
        { "1.", "at byte 1: a malformed number" },
        { "-", "at byte 1: a malformed number" },
        { '"abc', "at byte 1: a string without its closing quote" },
        { '"a\1"', "at byte 3: a control character inside a string" },
        { '"\\x"', "at byte 2: an unknown escape \\x" },
        { '"\\ud800"', "at byte 2: a high surrogate without its low half" },
        { '"\255"', "at byte 1: a string that is not valid UTF-8" },
        { "1 2", "at byte 3: text after the value" },
        { "nul", "at byte 1: an unexpected character 'n'" },
    } do
        t.raises({ "json: " .. case[2] }, json.decode, case[1])
    end
end)
