-- A web service written the way skynet's examples serve HTTP (a listener handing each accepted
-- connection to one of a few agents, which read the request with http.httpd and answer with
-- write_response through http.sockethelper), using only skynet's API: code like this runs on
-- skyhive unchanged. Started as helper_simpleweb("listen") by test_http_simpleweb, which asks
-- it for the port the kernel picked (a "port" call); the agents are helper_simpleweb("agent").
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local urllib = require "http.url"

local mode = ...

local function response(id, write, ...)
    local ok, err = httpd.write_response(write, ...)
    if not ok then
        -- err is sockethelper.socket_error when the client went away.
        skynet.error(string.format("fd = %d, %s", id, tostring(err)))
    end
end

if mode == "agent" then
    skynet.start(function()
        skynet.dispatch("lua", function(_, _, id)
            socket.start(id)
            local read, write = sockethelper.readfunc(id), sockethelper.writefunc(id)
            -- Request bodies up to 8 KB.
            local code, url, method, header, body = httpd.read_request(read, 8192)
            if code then
                if code ~= 200 then
                    response(id, write, code)
                else
                    local lines = {}
                    if header.host then lines[#lines + 1] = "host: " .. header.host end
                    local path, query = urllib.parse(url)
                    lines[#lines + 1] = "path: " .. path
                    lines[#lines + 1] = "method: " .. method
                    if query then
                        local q = urllib.parse_query(query)
                        local keys = {}
                        for k in pairs(q) do keys[#keys + 1] = k end
                        table.sort(keys)
                        for _, k in ipairs(keys) do
                            lines[#lines + 1] = string.format("query: %s=%s", k, q[k])
                        end
                    end
                    lines[#lines + 1] = "body: " .. body
                    response(id, write, code, table.concat(lines, "\n"))
                end
            elseif url == sockethelper.socket_error then
                skynet.error("socket closed")
            else
                skynet.error(url)
            end
            socket.close(id)
        end)
    end)
else
    skynet.start(function()
        local agents = {}
        for i = 1, 4 do agents[i] = skynet.newservice(SERVICE_NAME, "agent") end
        local balance = 1
        local id, _, port = socket.listen("127.0.0.1", 0)
        skynet.error("simpleweb listening on " .. port)
        skynet.dispatch("lua", function(_, _, cmd)
            assert(cmd == "port")
            skynet.ret(skynet.pack(port))
        end)
        socket.start(id, function(fd)
            skynet.send(agents[balance], "lua", fd)
            balance = balance % #agents + 1
        end)
    end)
end
