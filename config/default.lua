-- The default node: what the README's first command runs.
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"   -- the first service: module and its args
start = "main"                  -- services/lua/main.lua starts what the keys below name
loglevel = "info"
-- logger = "skyhive.log"       -- log file; stdout when unset

-- The debug console (`telnet 127.0.0.1 8000`, then `help`). It refuses an address other than
-- loopback unless debug_console_allow_remote = true: it can kill services and stop the node.
debug_console = "127.0.0.1:8000"
-- debug_console_allow_remote = true
-- The echo service: `telnet 127.0.0.1 8001` echoes each line.
echo = "127.0.0.1:8001"
