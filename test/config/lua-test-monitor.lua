-- lua-test.lua with a monitor threshold of 100 ms, for the endless-loop test.
include "lua-test.lua"
monitor_threshold = 100
