-- The node's lock board service, a library service on every shipped config's service path: the
-- lock library of each service launches it with skynet.uniqueservice("lockboard") on its first
-- lock event and tells it what its locks do; it keeps the status board topic "locks"
-- (lualib/skynet/db/redis/lock_board.lua).
require("skynet.db.redis.lock_board").serve()
