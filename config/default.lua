-- The default node: what the README's first command runs.
thread = 2
harbor = 0
bootstrap = "demo 2"        -- module and its args
loglevel = "info"
-- logger = "skyhive.log"   -- log file; stdout when unset
