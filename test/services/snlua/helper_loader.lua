-- A lualoader: gets the whole args string, finds the script along LUA_SERVICE itself, marks the
-- service as loaded by it, and runs the script with the remaining words.
local args = ...
local words = {}
for word in string.gmatch(args, "%S+") do words[#words + 1] = word end
SERVICE_NAME = words[1]
LOADED_BY = "helper_loader"
local skynet_core = require "skynet.core"
local pattern = skynet_core.getenv "luaservice"
for template in string.gmatch(pattern, "[^;]+") do
    local file = string.gsub(template, "?", SERVICE_NAME)
    local f = loadfile(file)
    if f then return f(table.unpack(words, 2)) end
end
error("helper_loader: no script for " .. tostring(SERVICE_NAME))
