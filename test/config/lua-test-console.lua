-- lua-test.lua with a small message-log limit, for the debug console's logon.
include "lua-test.lua"
logon_limit_kb = 2
