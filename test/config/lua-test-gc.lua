-- lua-test.lua with every service on the incremental collector, for test_gc_incremental.lua.
include "lua-test.lua"
lua_gc_incremental_kb = 0
