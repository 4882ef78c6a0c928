-- Run before every service script (config preload): records that it ran and its arguments.
PRELOADED_ARGS = table.pack(...)
