-- The echo server: `telnet 127.0.0.1 8001` echoes each line.
--   ./build/skyhive config/echo.lua
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "main"                  -- services/lua/main.lua starts what the keys below name
echo = "127.0.0.1:8001"
loglevel = "info"
