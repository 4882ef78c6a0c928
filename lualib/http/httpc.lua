-- http.httpc: an HTTP/1.1 client (skynet's http.httpc), one connection per request.
--
--   httpc.request(method, host, url [, recvheader [, header [, content]]]) -> status, body
--       host: "host", "host:port" or "http://host[:port]" (port 80 by default); url: the
--       request target ("/path?query"). recvheader: a table filled with the response's header
--       (lowercase names). header: request header { name = value }; Host and Content-Length are
--       added. content: the request body (a string).
--       The response may be sized by Content-Length, chunked, or read to the close; 1xx
--       interim responses are skipped. Raises an error naming the request on a refused
--       connection, a name that does not resolve, a timeout, a malformed response, or a body
--       over httpc.max_body.
--   httpc.get(host, url [, recvheader [, header [, content]]])
--   httpc.head(host, url [, recvheader [, header]]) -> status
--   httpc.post(host, url, form [, recvheader]) -> status, body   form: { name = value }, sent
--                                                                 url-encoded
--   httpc.timeout = nil      centiseconds for the whole request (connect, send, response); nil:
--                            no limit (as skynet)
--   httpc.max_body = 16 MB   the largest response body accepted
--   httpc.max_header = 64 KB the largest response header accepted
--
-- Thread: any service; every request function yields.
local skynet = require "skynet"
local socket = require "skynet.socket"
local sockethelper = require "http.sockethelper"
local parser = require "skyhive.http.parser"
local url = require "http.url"

local error, pairs, type, tostring, tonumber, format, concat =
    error, pairs, type, tostring, tonumber, string.format, table.concat

local httpc = {
    max_body = 16 * 1024 * 1024,
    max_header = 64 * 1024,
}

-- "http://name:port" -> "name", port, "name:port" (the Host header).
local function split_host(host)
    local scheme, rest = host:match "^(%a[%w+.-]*)://(.*)$"
    if scheme then
        if scheme:lower() ~= "http" then
            error(format("httpc: unsupported scheme %q in %q (http only)", scheme, host), 3)
        end
        host = rest
    end
    local name, port = host:match "^%[([^%]]+)%]:?(%d*)$" -- [v6]:port
    if not name then name, port = host:match "^([^:/]+):?(%d*)$" end
    if not name then error(format("httpc: bad host %q (host[:port] expected)", host), 3) end
    port = tonumber(port) or 80
    return name, port, port == 80 and name or (name .. ":" .. port)
end

local function request_text(method, hosthdr, target, header, content)
    local lines = { format("%s %s HTTP/1.1\r\n", method, target) }
    local has_host
    if header then
        for k, v in pairs(header) do
            k, v = tostring(k), tostring(v)
            if (k .. v):find "[\r\n]" then
                error(format("httpc: header %q holds CR or LF", k), 4)
            end
            local lk = k:lower()
            if lk == "host" then has_host = true end
            if lk ~= "content-length" then lines[#lines + 1] = k .. ": " .. v .. "\r\n" end
        end
    end
    if not has_host then lines[#lines + 1] = "host: " .. hosthdr .. "\r\n" end
    if content then
        lines[#lines + 1] = format("content-length: %d\r\n\r\n", #content)
        lines[#lines + 1] = content
    elseif method ~= "GET" and method ~= "HEAD" then
        lines[#lines + 1] = "content-length: 0\r\n\r\n"
    else
        lines[#lines + 1] = "\r\n"
    end
    return concat(lines)
end

-- Reads one final response from fd. -> msg | raises
local function read_response(fd, what, head)
    local reader = parser.new("response", httpc.max_header, httpc.max_body)
    while true do
        if head then reader:no_body() end
        local msg, code, why = reader:next()
        while msg == nil do
            local data = socket.read(fd)
            if data then
                msg, code, why = reader:next(data)
            else
                reader:eof()
                msg, code, why = reader:next()
                if msg == nil then
                    error(format("httpc: %s: connection closed before the response", what), 0)
                end
            end
        end
        if msg == false then
            if code == 413 then why = format("response body over %d bytes (httpc.max_body)",
                httpc.max_body)
            elseif code == 431 then why = format("response header over %d bytes " ..
                "(httpc.max_header)", httpc.max_header)
            end
            error(format("httpc: %s: bad response: %s", what, why), 0)
        end
        if msg.status >= 200 or msg.status == 101 then return msg end
        -- 1xx interim response: the final one follows.
    end
end

local function request(method, host, target, recvheader, header, content)
    if type(method) ~= "string" or not method:match "^%u+$" then
        error(format("httpc: bad method %q", tostring(method)), 3)
    end
    target = target or "/"
    if target:find "[%s]" then error(format("httpc: bad url %q (spaces)", target), 3) end
    if content ~= nil and type(content) ~= "string" then
        error(format("httpc: content is a %s (string expected)", type(content)), 3)
    end
    local name, port, hosthdr = split_host(host)
    local what = format("%s http://%s%s", method, hosthdr, target)
    local text = request_text(method, hosthdr, target, header, content)
    local timeout = httpc.timeout
    local ok, fd = pcall(sockethelper.connect, name, port, timeout)
    if not ok then
        error(format("httpc: %s: %s", what, tostring(fd)):gsub("%[Socket Error%] ", ""), 0)
    end
    local finished, timed_out = false, false
    if timeout then
        skynet.timeout(timeout, function()
            if not finished then
                timed_out = true
                socket.shutdown(fd)
            end
        end)
    end
    local rok, msg = pcall(function()
        if not socket.write(fd, text) then
            error(format("httpc: %s: connection closed while sending", what), 0)
        end
        return read_response(fd, what, method == "HEAD")
    end)
    finished = true
    socket.close(fd)
    if timed_out then
        error(format("httpc: %s: timed out after %d cs (httpc.timeout)", what, timeout), 0)
    end
    if not rok then error(msg, 0) end
    if recvheader then
        for k, v in pairs(msg.header) do recvheader[k] = v end
    end
    return msg.status, msg.body
end

function httpc.request(method, host, target, recvheader, header, content)
    return request(method, host, target, recvheader, header, content)
end

function httpc.get(host, target, recvheader, header, content)
    return request("GET", host, target, recvheader, header, content)
end

function httpc.head(host, target, recvheader, header, content)
    return (request("HEAD", host, target, recvheader, header, content))
end

function httpc.post(host, target, form, recvheader)
    local body = {}
    for k, v in pairs(form) do
        body[#body + 1] = url.encode(tostring(k)) .. "=" .. url.encode(tostring(v))
    end
    return request("POST", host, target, recvheader,
        { ["content-type"] = "application/x-www-form-urlencoded" }, concat(body, "&"))
end

return httpc
