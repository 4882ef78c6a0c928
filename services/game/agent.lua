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
--   tell <player> <text>    a private message to a player online on any node
--   help, quit              quit answers once the progress is saved (or says it was not)
--
-- The game's gate (a C++ gate in "lines" mode) cuts what the player types into lines and forwards
-- them here as "client" messages; answers are written to the socket (socket id = the fd).
--
-- Args: socket id, peer address, world handle, watchdog handle (the game's gate.lua), node
-- name, C++ gate handle.
-- Thread: a service; commands run one at a time in one coroutine, in the order they were typed;
-- notices are written by the dispatcher. Once logged in, on the socket thread when idle
-- (socket.inline, see COMMANDS.login).
local skynet = require "skynet"
local socket = require "skynet.socket"
local account = require "account"

local id, peer, world, gate, node, cgate = ...
id, world, gate, cgate = math.tointeger(tonumber(id)), math.tointeger(tonumber(world)),
    math.tointeger(tonumber(gate)), math.tointeger(tonumber(cgate))

local byte = string.byte

local MAX_LINE = 512
local NAME = "^[%w_%-]+$"
local MAX_NAME = 16

local name   -- logged in as (the id: the name in lower case)
local shown  -- the name as the account was registered
local password -- while a login is in progress: the world asks for its hash or a check
local closed = false -- no more writes
local kicked = false -- closed by a kick (the world or the gate ended the session)
local ended = false -- the C++ gate forgot the connection (closed, or the client stopped sending)
local lines = {} -- lines received and not yet handled, in order
local first, last = 1, 0
local waiting -- the command loop, while it waits for a line
-- Flow control with the gate: it forwards at most WINDOW lines, then stops reading the client until
-- resume reports them handled (every WINDOW / 2 lines); while the output is past the high-water
-- mark (held, told by gate.lua) reading is paused and no resume is sent until it drains.
local WINDOW = 64
local held = false
local handled = 0 -- lines handled since the last resume

local function grant()
    if ended or kicked or held then return end
    local n = handled
    handled = 0
    skynet.send(cgate, "lua", "resume", id, n)
end

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
    "  tell <player> <text>    a private message to a player online on any node",
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
    if ok then
        name, shown = who:lower(), as or who
        -- Logged in: what is left is short (a line in, a call to the world, a line out), so the
        -- lines and the world's answers may run on the socket thread (socket.inline). Not
        -- before: the password's KDF takes milliseconds, which must not hold every socket.
        socket.inline(true)
    end
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
    -- The usual give (a name, digits) in one match; anything else is taken apart below for its
    -- message. Each match from Lua costs a few thousand instructions.
    local to, amount = args:match("^([%w_%-]+)%s+(%d+)$")
    local n = to and #to <= MAX_NAME and math.tointeger(tonumber(amount))
    if not n then
        to, amount = args:match("^(%S+)%s+(%S+)$")
        if not to then return send("usage: give <player> <amount>") end
        n = math.tointeger(tonumber(amount))
        if not n or not amount:match("^%d+$") then
            return send("amount must be a whole number from 1 to 1000000000")
        end
        if #to > MAX_NAME or not to:match(NAME) then return send("unknown player " .. to) end
    end
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

function COMMANDS.tell(args)
    if not need_login() then return end
    local to, text = args:match("^(%S+)%s+(.+)$")
    if not to then return send("usage: tell <player> <text>") end
    if #to > MAX_NAME or not to:match(NAME) then return send(to:sub(1, 32) .. " is not online") end
    -- As for say: control bytes would reach the other terminal.
    local _, reply = skynet.call(world, "lua", "tell", name, to, (text:gsub("[%c\127]", "?")))
    send(reply)
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

-- The next line (telnet commands removed), nil once the session is over. The gate has cut it at
-- LF, CR LF, CR or CR NUL; a last line without one still counts when the client half-closes.
-- A line longer than MAX_LINE is answered once and skipped (the gate's skip_long), whatever its
-- length. A client that does not read is held by the gate (see gate.lua).
local function next_line()
    while true do
        if kicked then return nil end
        if first <= last then
            local line = lines[first]
            lines[first] = nil
            first = first + 1
            handled = handled + 1
            if handled >= WINDOW // 2 then grant() end
            -- The gate hands out an over-long line cut to MAX_LINE + 1 bytes.
            if #line <= MAX_LINE then return lineio.strip_telnet(line) end
            send(string.format("line too long (over %d bytes): ignored", MAX_LINE))
        elseif ended then
            return nil
        else
            waiting = coroutine.running()
            skynet.wait(waiting)
            waiting = nil
        end
    end
end

local function wake()
    if waiting then skynet.wakeup(waiting) end
end

local function serve()
    send(string.format("welcome to skyhive (%s). type help for the commands, " ..
        "login <name> <password> to play", node))
    while true do
        local line = next_line()
        if not line then break end
        -- Trailing blanks are cut only when there are some: "(.-)%s*$" tries the end at every
        -- byte of the arguments.
        local cmd, args = line:match("^%s*(%S+)%s*(.*)$")
        local last = args and byte(args, -1)
        if last and (last == 32 or (last >= 9 and last <= 13)) then args = args:match("^(.-)%s*$") end
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
        -- Kicked while a command ran: the kick left the socket to this loop.
        if kicked then break end
    end
    closed = true
    if name then pcall(skynet.call, world, "lua", "logout", skynet.self(), name) end
    if ended then
        socket.close_fd(id) -- the gate has forgotten it (queued output still goes out)
    else
        skynet.send(cgate, "lua", "kick", id)
    end
    skynet.send(gate, "lua", "gone", skynet.self())
    skynet.exit()
end

-- Ends the session from outside the command loop with a last line (the world: taken over, or
-- saved at shutdown; the gate: shutting down). The loop closes the connection once the command in
-- progress, if any, returns.
local function kick(line)
    if kicked then return end
    send(line)
    kicked = true
    name = nil -- the world has forgotten the session already
    wake()
end

skynet.register_protocol {
    name = "client",
    id = skynet.PTYPE_CLIENT,
    unpack = skynet.tostring,
}

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
        elseif cmd == "held" then
            -- The gate: the output passed the high-water mark (true) or drained (false).
            held = line
            if held then
                skynet.send(cgate, "lua", "pause", id)
            else
                grant()
            end
        elseif cmd == "closed" then
            -- The gate: the connection closed, or the client stopped sending (its lines so far
            -- are still answered).
            ended = true
            wake()
        elseif cmd == "hash" or cmd == "verify" then
            -- The world, during this agent's login: the KDF runs here, not in the world.
            if not password then error("agent: no login in progress") end
            if cmd == "hash" then return skynet.retpack(account.hash(password)) end
            local good = account.verify(password, line)
            local better = good and account.needs_rehash(line) and account.hash(password) or nil
            skynet.retpack(good, better)
        end
    end)
    skynet.dispatch("client", function(_, _, line)
        skynet.ignoreret() -- the session is the fd, not a request to answer
        if kicked or ended then return end
        last = last + 1
        lines[last] = line
        wake()
    end)
    skynet.fork(serve)
end)
