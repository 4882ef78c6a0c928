-- http.httpd: read one HTTP request and write one response over functions that read and write
-- bytes (skynet's http.httpd; sockethelper makes those functions from a socket).
--
--   httpd.read_request(readfunc [, bodylimit]) -> code, url, method, header, body
--       code 200: a request was read; header = { lowercase name = value } (repeats joined
--       with ", "); body = the body, de-chunked (chunked trailers join the header).
--       code 400 (malformed), 413 (body over bodylimit, or announced over it), 431 (header over
--       8 KB): nothing else is returned; answer with write_response(write, code) and close.
--       nil, err: readfunc raised (sockethelper.socket_error when the socket closed).
--       The request is parsed by libhttp-parser (skyhive.http.parser). Bytes read past the end
--       of the request (a pipelined next request) are kept with readfunc: the next read_request
--       on the same readfunc starts from them, so a keep-alive loop answers pipelined requests
--       in order. The reader, and so its limits, is made by the first call on a readfunc.
--   httpd.write_response(writefunc, statuscode [, body [, header]]) -> ok, err
--       body: a string (sent with Content-Length), a function returning the next piece or nil
--       at the end (sent chunked), or nil (an empty body). header: { name = value }; a value
--       may be a list of values (one line each). A name or value holding CR or LF raises.
--       Returns true, or false and the error (writefunc raised, or bad arguments).
--   httpd.status_text[code] -> the reason phrase
--   httpd.head(statuscode, header, last) -> the status line and header lines, then `last` (the
--       framing header line(s) and the blank line)
--
-- Thread: any service; read_request yields as readfunc does.
local parser = require "skyhive.http.parser"

local pcall, error, type, pairs, ipairs, tostring, format, concat =
    pcall, error, type, pairs, ipairs, tostring, string.format, table.concat

local httpd = {}

local status_text = {
    [100] = "Continue", [101] = "Switching Protocols",
    [200] = "OK", [201] = "Created", [202] = "Accepted", [203] = "Non-Authoritative Information",
    [204] = "No Content", [205] = "Reset Content", [206] = "Partial Content",
    [300] = "Multiple Choices", [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
    [304] = "Not Modified", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
    [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
    [405] = "Method Not Allowed", [406] = "Not Acceptable", [408] = "Request Timeout",
    [409] = "Conflict", [410] = "Gone", [411] = "Length Required",
    [412] = "Precondition Failed", [413] = "Content Too Large", [414] = "URI Too Long",
    [415] = "Unsupported Media Type", [416] = "Range Not Satisfiable",
    [417] = "Expectation Failed", [426] = "Upgrade Required", [429] = "Too Many Requests",
    [431] = "Request Header Fields Too Large",
    [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
    [503] = "Service Unavailable", [504] = "Gateway Timeout",
    [505] = "HTTP Version Not Supported",
}
httpd.status_text = status_text

local MAX_HEADER = 8192

-- readfunc -> its reader (with the bytes of a pipelined next request), for as long as the
-- readfunc lives.
local readers = setmetatable({}, { __mode = "k" })

local function read(readfunc, bodylimit)
    local reader = readers[readfunc]
    if not reader then
        reader = parser.new("request", MAX_HEADER, bodylimit or math.maxinteger)
        readers[readfunc] = reader
    end
    local msg, code = reader:next()
    while msg == nil do
        msg, code = reader:next(readfunc())
    end
    if not msg then
        return code
    end
    return 200, msg.url, msg.method, msg.header, msg.body
end

function httpd.read_request(readfunc, bodylimit)
    local ok, code, url, method, header, body = pcall(read, readfunc, bodylimit)
    if ok then return code, url, method, header, body end
    return nil, code
end

local function check_token(s, what)
    s = tostring(s)
    if s:find "[\r\n]" then
        error(format("http response: %s %q holds CR or LF", what, s), 4)
    end
    return s
end

-- The status line and header lines of a response, up to and including the blank line.
function httpd.head(statuscode, header, body_header)
    if math.type(statuscode) ~= "integer" or statuscode < 100 or statuscode > 999 then
        error(format("http response: bad status code %s", tostring(statuscode)), 3)
    end
    local lines = { format("HTTP/1.1 %03d %s\r\n", statuscode, status_text[statuscode] or "") }
    if header then
        for k, v in pairs(header) do
            k = check_token(k, "header name")
            if type(v) == "table" then
                for _, one in ipairs(v) do
                    lines[#lines + 1] = k .. ": " .. check_token(one, "header value") .. "\r\n"
                end
            else
                lines[#lines + 1] = k .. ": " .. check_token(v, "header value") .. "\r\n"
            end
        end
    end
    lines[#lines + 1] = body_header
    return concat(lines)
end

local function write(writefunc, statuscode, body, header)
    local t = type(body)
    if t == "string" then
        writefunc(httpd.head(statuscode, header, format("content-length: %d\r\n\r\n", #body)) ..
            body)
    elseif t == "function" then
        writefunc(httpd.head(statuscode, header, "transfer-encoding: chunked\r\n\r\n"))
        while true do
            local s = body()
            if s == nil then break end
            if s ~= "" then writefunc(format("%x\r\n%s\r\n", #s, s)) end
        end
        writefunc("0\r\n\r\n")
    elseif t == "nil" then
        writefunc(httpd.head(statuscode, header, "content-length: 0\r\n\r\n"))
    else
        error(format("http response: body is a %s (string, function or nil expected)", t), 2)
    end
    return true
end

function httpd.write_response(writefunc, statuscode, body, header)
    return pcall(write, writefunc, statuscode, body, header)
end

return httpd
