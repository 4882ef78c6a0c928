-- One connection's agent: reads the lines a player types and answers each command with exactly
-- one line (help: several); notices from the world (chat, gold received, kicks) arrive between
-- them as lines starting with "[".
--
--   login <name> <password> log in; a new name creates the account (names are unique whatever
--                           their case) and starts with the configured gold
--   who                     players online on every node
--   gold                    your gold
--   give <player> <amount>  give gold to a player, online anywhere or offline
--   say <text>              chat to everyone on every node
--   help, quit              quit answers once the progress is saved (or says it was not)
--
-- Args: socket id, peer address, world handle, gate handle, node name.
-- Thread: a service; the read loop is one coroutine, notices are written by the dispatcher.
local skynet = require "skynet"
local socket = require "skynet.socket"
local account = require "account"

local id, peer, world, gate, node = ...
id, world, gate = math.tointeger(tonumber(id)), math.tointeger(tonumber(world)),
    math.tointeger(tonumber(gate))

local MAX_LINE = 512
local NAME = "^[%w_%-]+$"
local MAX_NAME = 16

local name   -- logged in as (the id: the name in lower case)
local shown  -- the name as the account was registered
local password -- while a login is in progress: the world asks for its hash or a check
local closed = false -- no more writes
local kicked = false -- closed by a kick (the world or the gate ended the session)
-- The read loop is handling a command (it may be waiting for the world). Otherwise it is
-- waiting in socket.read, the only place outside a command where it yields.
local busy = false
local kick_closed = false -- the kick closed the socket (the read loop must not close it again)

local lineio = require "skynet.lineio"

-- Whatever goes back to the terminal is printable: no control bytes (escape sequences) and no
-- raw bytes >= 0x80, whoever wrote them (an unknown command echoed, a notice from the world).
local function send(line)
    if not closed and not kicked then socket.write(id, lineio.printable(line) .. "\r\n") end
end

local HELP = {
    "commands:",
    "  login <name> <password> log in; a new name creates your account with some gold",
    "  who                     who is online, on every node",
    "  gold                    how much gold you have",
    "  give <player> <amount>  give gold to a player (online here, elsewhere, or offline)",
    "  say <text>              talk to everyone on every node",
    "  help                    this list",
    "  quit                    save your progress and leave",
}

local COMMANDS = {}

function COMMANDS.help()
    for _, line in ipairs(HELP) do send(line) end
end

function COMMANDS.login(args)
    if name then return send("you are already logged in as " .. shown) end
    local who, secret = args:match("^(%S+)%s+(%S+)$")
    if not who then return send("usage: login <name> <password>") end
    if #who > MAX_NAME or not who:match(NAME) then
        return send("bad name: 1 to 16 letters, digits, _ or -")
    end
    if #secret < account.MIN_PASSWORD or #secret > account.MAX_PASSWORD then
        return send(string.format("bad password: %d to %d characters, no spaces",
            account.MIN_PASSWORD, account.MAX_PASSWORD))
    end
    password = secret
    local ok, text, as = skynet.call(world, "lua", "login", skynet.self(), who,
        peer:match("^(.*):%d+$") or peer)
    password = nil
    if ok then name, shown = who:lower(), as or who end
    send(text)
end

local function need_login()
    if name then return true end
    send("not logged in: type login <name> <password> first")
end

function COMMANDS.who()
    if not need_login() then return end
    local _, text = skynet.call(world, "lua", "who")
    send(text)
end

function COMMANDS.gold()
    if not need_login() then return end
    local gold = skynet.call(world, "lua", "gold", name)
    if not gold then return send("not logged in: type login <name> <password> first") end
    send(string.format("you have %d gold", gold))
end

function COMMANDS.give(args)
    if not need_login() then return end
    local to, amount = args:match("^(%S+)%s+(%S+)$")
    if not to then return send("usage: give <player> <amount>") end
    local n = math.tointeger(tonumber(amount))
    if not n or not amount:match("^%d+$") then
        return send("amount must be a whole number from 1 to 1000000000")
    end
    if #to > MAX_NAME or not to:match(NAME) then return send("unknown player " .. to) end
    local _, text = skynet.call(world, "lua", "give", name, to, n)
    send(text)
end

function COMMANDS.say(args)
    if not need_login() then return end
    -- Control bytes would reach everyone's terminal (escape sequences): replaced.
    args = args:gsub("[%c\127]", "?")
    if args == "" then return send("usage: say <text>") end
    local _, text = skynet.call(world, "lua", "say", name, args)
    send(text)
end

function COMMANDS.quit()
    if name then
        local saved, why = skynet.call(world, "lua", "logout", skynet.self(), name)
        name = nil
        if not saved then
            send("bye: your progress could not be saved (" .. tostring(why) ..
                "); the server keeps trying")
            return true
        end
        send("bye: your progress is saved")
        return true
    end
    send("bye")
    return true
end

-- The next line without its line end, nil at close. A line longer than MAX_LINE is answered
-- once and skipped up to its end, so the connection stays usable. Telnet commands are dropped;
-- CR, LF and CR LF end a line; a last line without one still counts when the client half-closes.
-- While more than socket_warning_kb waits to be sent the client is not read (its TCP window then
-- stops it); past four times that it is dropped (lineio's hold).
local reader
local function next_line()
    reader = reader or lineio.new(id, { max = MAX_LINE, telnet = true, hold = true, peer = peer })
    while true do
        local line, err = reader:read()
        if line ~= false then return line end
        send(err .. ": ignored")
    end
end

local function serve()
    send(string.format("welcome to skyhive (%s). type help for the commands, " ..
        "login <name> <password> to play", node))
    while true do
        local line = next_line()
        if not line then break end
        local cmd, args = line:match("^%s*(%S+)%s*(.-)%s*$")
        if cmd then
            local f = COMMANDS[cmd:lower()]
            if not f then
                send(string.format("unknown command %q: type help", cmd:sub(1, 32)))
            else
                busy = true
                local ok, stop = pcall(f, args)
                busy = false
                if not ok then
                    skynet.error(string.format("game agent %s: %s: %s", peer, cmd, tostring(stop)))
                    send("internal error, try again")
                elseif stop then
                    break
                end
            end
        end
        -- Kicked while a command ran: the kick left the socket to this loop.
        if kicked then break end
    end
    closed = true
    if name then pcall(skynet.call, world, "lua", "logout", skynet.self(), name) end
    if not kick_closed then socket.close(id) end
    skynet.send(gate, "lua", "gone", skynet.self())
    skynet.exit()
end

-- Ends the session from outside the read loop with a last line (the world: taken over, or
-- saved at shutdown; the gate: shutting down).
local function kick(line)
    if kicked then return end
    send(line)
    kicked = true
    name = nil -- the world has forgotten the session already
    -- Only a reader waiting in socket.read may be woken by a close from here (close waits for
    -- it); a command in progress ends the loop itself when it returns, and closing here would
    -- leave the loop's next read facing a second waiter.
    if not busy then
        kick_closed = true
        socket.close(id) -- the line still goes out; the read loop wakes and ends
    end
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, line)
        if cmd == "notice" then
            send(line)
        elseif cmd == "kick" then
            kick(line)
        elseif cmd == "world" then
            -- The gate: the world ended and a new one knows no session.
            world = line
            if name and not kicked then
                name, shown = nil, nil
                send("[server] the game restarted: log in again")
            end
        elseif cmd == "shutdown" then
            -- The gate, at node shutdown: a logged-in player is kicked by the world once saved.
            if not name then kick("[server] shutting down") end
        elseif cmd == "hash" or cmd == "verify" then
            -- The world, during this agent's login: the KDF runs here, not in the world.
            if not password then error("agent: no login in progress") end
            if cmd == "hash" then return skynet.retpack(account.hash(password)) end
            local good = account.verify(password, line)
            local better = good and account.needs_rehash(line) and account.hash(password) or nil
            skynet.retpack(good, better)
        end
    end)
    socket.start(id)
    skynet.fork(serve)
end)
