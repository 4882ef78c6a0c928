-- Not valid Lua on purpose: a launch reports the syntax error with file and line.
local x = = 1
