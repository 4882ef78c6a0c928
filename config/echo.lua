-- The echo server: `telnet 127.0.0.1 8001` echoes each line.
--   ./build/skyhive config/echo.lua
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "main"                  -- services/lua/main.lua starts what the keys below name
luaservice = "../services/lua/?.lua"  -- relative to this file's directory
lua_path = "../lualib/?.lua;../lualib/?/init.lua"
echo = "127.0.0.1:8001"
loglevel = "info"
