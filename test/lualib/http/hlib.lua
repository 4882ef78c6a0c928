-- Helpers of the HTTP tests (not a test): a raw client socket that sends bytes as given and reads
-- responses with the library's own parser, so that the tests see exactly what the server wrote.
local socket = require "skynet.socket"
local parser = require "skyhive.http.parser"

local hlib = {}

local client = {}
client.__index = client

-- A connection to 127.0.0.1:port. -> client
function hlib.connect(port)
    local fd = assert(socket.open("127.0.0.1", port))
    return setmetatable({ fd = fd, reader = parser.new("response", 65536, 64 * 1024 * 1024) },
        client)
end

function client:send(bytes)
    assert(socket.write(self.fd, bytes), "write failed")
end

-- The next response: { status =, header =, body =, keep_alive = }, or nil, "closed" when the
-- server closed first.
function client:response(head)
    if head then self.reader:no_body() end
    local msg, code, why = self.reader:next()
    while msg == nil do
        local data = socket.read(self.fd)
        if not data then
            self.reader:eof()
            msg, code, why = self.reader:next()
            if msg == nil then return nil, "closed" end
        else
            msg, code, why = self.reader:next(data)
        end
    end
    assert(msg, why)
    return msg
end

-- True once the server has closed the connection (reads until the end, dropping bytes).
function client:closed()
    while socket.read(self.fd) do end
    return true
end

function client:close()
    socket.close(self.fd)
end

-- A GET request's bytes.
function hlib.get(path, extra)
    return "GET " .. path .. " HTTP/1.1\r\nHost: test\r\n" .. (extra or "") .. "\r\n"
end

return hlib
