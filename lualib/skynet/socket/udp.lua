-- The UDP half of skynet.socket: its functions are installed into the module table by
-- skynet.socket (require "skynet.socket" is the API; nothing else should need this file).
--
-- A UDP socket object lives in the same pool as the streams (skynet.socket.events), with
-- protocol = "UDP" and callback(data, from) for each datagram. Thread: the owning service.
-- Nothing here yields (a host name is looked up with getaddrinfo, which blocks the service).
local driver = require "skynet.socketdriver"
local events = require "skynet.socket.events"

local assert, error, format, ipairs, pcall = assert, error, string.format, ipairs, pcall
local socket_pool = events.pool
local udp_peer = events.udp_peer

local function new_udp(id, callback)
    assert(not socket_pool[id], "socket is already open here")
    socket_pool[id] = { id = id, connected = true, protocol = "UDP", callback = callback }
end

-- The compact address of host:port; a host name is resolved (to its first IPv4 address, else
-- its first address). Raises, naming the caller, when neither works.
local function target(fname, host, port)
    local peer, err = driver.udp_target(host, port)
    if peer then return peer end
    local ok, ips = pcall(driver.resolve, host)
    if ok and ips[1] then
        local ip = ips[1]
        for _, v4 in ipairs(ips) do
            if not v4:find(":", 1, true) then -- an IPv4 address first: "localhost" has both
                ip = v4
                break
            end
        end
        peer = driver.udp_target(ip, port)
        if peer then return peer, ip end
    end
    error(format("socket.%s: %s", fname, ok and err or ips), 3)
end

return function(socket)
    -- Opens a UDP socket on host:port (defaults: every address, a port the kernel picks);
    -- callback(data, from) receives each datagram. Raises on failure. -> id, bound port
    function socket.udp(callback, host, port)
        local id, bound = driver.udp(host, port)
        if not id then error(bound, 2) end
        new_udp(id, callback)
        return id, bound
    end

    -- skynet's newer spelling of udp(callback, host, port). -> id, bound port
    function socket.udp_listen(host, port, callback)
        local id, bound = driver.udp(host, port)
        if not id then error(bound, 2) end
        new_udp(id, callback)
        return id, bound
    end

    -- Makes host:port the default peer (a name is resolved): write(id, data) sends there, and
    -- datagrams from other senders are ignored. Raises on a bad address.
    function socket.udp_connect(id, host, port, callback)
        local peer = target("udp_connect", host, port)
        local s = socket_pool[id]
        if s then
            assert(s.protocol == "UDP", "socket.udp_connect: not a UDP socket")
            if callback then s.callback = callback end
        else
            new_udp(id, callback)
        end
        udp_peer[id] = peer
    end

    -- A UDP socket whose default peer is host:port (udp_connect on a fresh socket bound to a
    -- port the kernel picks, of the peer's family). -> id, bound port. Raises on failure.
    function socket.udp_dial(host, port, callback)
        local peer, ip = target("udp_dial", host, port)
        ip = ip or host
        local id, bound = driver.udp(ip:find(":", 1, true) and "::" or "0.0.0.0", 0)
        if not id then error(bound, 2) end
        new_udp(id, callback)
        udp_peer[id] = peer
        return id, bound
    end

    -- sendto(id, address, data [, size]): address as a callback received it (or udp_target
    -- made it). -> false when the id is closed.
    socket.sendto = driver.udp_send
    -- udp_address(address) -> ip, port
    socket.udp_address = driver.udp_address
    -- udp_target(host, port) -> address | nil, err (numeric hosts only)
    socket.udp_target = driver.udp_target
end
