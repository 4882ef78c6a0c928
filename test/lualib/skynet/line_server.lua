-- The line server of the socketchannel tests (a module they require, not a test): it listens on
-- 127.0.0.1 and serves each connection in a coroutine of the calling service, one command a line,
-- "CMD rest". Every server knows
--   ECHO x    -> x
--   AUTH pw   -> OK, or ERR bad password (a server with a password answers every other command
--                with ERR noauth until the right one is given)
--   DROP      -> closes the connection without answering
-- and a test adds its own: commands.CMD(id, rest) writes the answer, and returning "close" closes
-- the connection after it. A command nobody knows gets no answer.
local skynet = require "skynet"
local socket = require "skynet.socket"

local line_server = {}

local function serve(id, commands, opts)
    if opts.gate then -- not started yet: what the client sends stays in the kernel
        opts.gate.co = coroutine.running()
        skynet.wait(opts.gate.co)
    end
    socket.start(id)
    if opts.on_open then opts.on_open(id) end
    local authed = opts.password == nil
    while true do
        local line = socket.readline(id)
        if not line then break end
        local cmd, rest = line:match("^(%S+) ?(.*)$")
        if cmd == "AUTH" then
            authed = rest == opts.password
            socket.write(id, authed and "OK\n" or "ERR bad password\n")
        elseif not authed then
            socket.write(id, "ERR noauth\n")
        elseif cmd == "ECHO" then
            socket.write(id, rest .. "\n")
        elseif cmd == "DROP" then
            break
        elseif commands[cmd] and commands[cmd](id, rest) == "close" then
            break
        end
    end
    if opts.on_close then opts.on_close(id) end
    socket.close(id)
end

-- Listens and serves; returns the port and the listening socket's id. `commands` as above (may
-- be nil); opts (may be nil), all optional:
--   port      the port (default: a free one)
--   password  see AUTH
--   gate      a table: each new connection waits, not read, until skynet.wakeup(gate.co)
--   on_open, on_close   function(id), when a connection starts and ends being served
function line_server.listen(commands, opts)
    commands, opts = commands or {}, opts or {}
    local lid, _, port = socket.listen("127.0.0.1", opts.port or 0)
    socket.start(lid, function(id) serve(id, commands, opts) end)
    return port, lid
end

-- A socketchannel response function for a one-line answer: true and the line, or false and the
-- text after "ERR " (a request error).
function line_server.line_response(sock)
    local line = sock:readline()
    if line:sub(1, 4) == "ERR " then return false, line:sub(5) end
    return true, line
end

return line_server
