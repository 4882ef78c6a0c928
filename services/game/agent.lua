-- One connection's agent: reads the lines a player types and answers each command with exactly
-- one line (help: several); notices from the world (chat, gold received, kicks) arrive between
-- them as lines starting with "[".
--
--   login <name>            log in (a new name starts with the configured gold)
--   who                     players online on every node
--   gold                    your gold
--   give <player> <amount>  give gold to a player, online anywhere or offline
--   say <text>              chat to everyone on every node
--   help, quit
--
-- Args: socket id, peer address, world handle, gate handle, node name.
-- Thread: a service; the read loop is one coroutine, notices are written by the dispatcher.
local skynet = require "skynet"
local socket = require "skynet.socket"

local id, peer, world, gate, node = ...
id, world, gate = math.tointeger(tonumber(id)), math.tointeger(tonumber(world)),
    math.tointeger(tonumber(gate))

local MAX_LINE = 512
local NAME = "^[%w_%-]+$"
local MAX_NAME = 16

local name   -- logged in as
local closed = false -- no more writes
local kicked = false -- closed by a kick (the world or the gate ended the session)

local lineio = require "skynet.lineio"

-- Whatever goes back to the terminal is printable: no control bytes (escape sequences) and no
-- raw bytes >= 0x80, whoever wrote them (an unknown command echoed, a notice from the world).
local function send(line)
    if not closed and not kicked then socket.write(id, lineio.printable(line) .. "\r\n") end
end

local HELP = {
    "commands:",
    "  login <name>            log in; a new name starts with some gold",
    "  who                     who is online, on every node",
    "  gold                    how much gold you have",
    "  give <player> <amount>  give gold to a player (online here, elsewhere, or offline)",
    "  say <text>              talk to everyone on every node",
    "  help                    this list",
    "  quit                    leave (your progress is saved)",
}

local COMMANDS = {}

function COMMANDS.help()
    for _, line in ipairs(HELP) do send(line) end
end

function COMMANDS.login(args)
    if name then return send("you are already logged in as " .. name) end
    local who = args:match("^(%S+)$")
    if not who then return send("usage: login <name>") end
    if #who > MAX_NAME or not who:match(NAME) then
        return send("bad name: 1 to 16 letters, digits, _ or -")
    end
    local ok, text = skynet.call(world, "lua", "login", skynet.self(), who)
    if ok then name = who end
    send(text)
end

local function need_login()
    if name then return true end
    send("not logged in: type login <name> first")
end

function COMMANDS.who()
    if not need_login() then return end
    local _, text = skynet.call(world, "lua", "who")
    send(text)
end

function COMMANDS.gold()
    if not need_login() then return end
    local gold = skynet.call(world, "lua", "gold", name)
    if not gold then return send("not logged in: type login <name> first") end
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
    send(string.format("welcome to skyhive (%s). type help for the commands, login <name> to play",
        node))
    while true do
        local line = next_line()
        if not line then break end
        local cmd, args = line:match("^%s*(%S+)%s*(.-)%s*$")
        if cmd then
            local f = COMMANDS[cmd:lower()]
            if not f then
                send(string.format("unknown command %q: type help", cmd:sub(1, 32)))
            else
                local ok, stop = pcall(f, args)
                if not ok then
                    skynet.error(string.format("game agent %s: %s: %s", peer, cmd, tostring(stop)))
                    send("internal error, try again")
                elseif stop then
                    break
                end
            end
        end
    end
    closed = true
    if name then pcall(skynet.call, world, "lua", "logout", skynet.self(), name) end
    if not kicked then socket.close(id) end
    skynet.send(gate, "lua", "gone", skynet.self())
    skynet.exit()
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, line)
        if cmd == "notice" then
            send(line)
        elseif cmd == "kick" and not kicked then
            send(line)
            kicked = true
            name = nil -- the world has forgotten the session already
            socket.close(id) -- the line still goes out; the read loop wakes and ends
        end
    end)
    socket.start(id)
    skynet.fork(serve)
end)
