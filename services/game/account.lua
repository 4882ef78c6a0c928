-- Passwords of the game's accounts: stored only as salted scrypt hashes (skynet.crypt, from
-- libcrypto), in the form
--   scrypt$<N>$<r>$<p>$<salt hex>$<key hex>
-- so the cost can be raised later: a record keeps the parameters it was hashed with, and
-- needs_rehash tells when they are below the current ones.
--
-- The cost: N = 2^11, r = 8, p = 1 is 2 MB of memory and a few ms of one core per hash
-- (docs/lua-api.md, "skynet.crypt", has the figures). It runs in the player's own agent, never in
-- the world, so logins on a node hash in parallel on the workers and the world never blocks.
--
-- Thread: any service. Nothing here yields.
local crypt = require "skynet.crypt"

local account = {}

local N, R, P = 2048, 8, 1
local SALT, KEY = 16, 32

account.MIN_PASSWORD, account.MAX_PASSWORD = 4, 64

-- A new stored hash of `password` with a fresh random salt.
function account.hash(password)
    local salt = crypt.randombytes(SALT)
    local key = crypt.scrypt(password, salt, N, R, P, KEY)
    return string.format("scrypt$%d$%d$%d$%s$%s", N, R, P, crypt.hexencode(salt),
        crypt.hexencode(key))
end

local function parse(stored)
    local n, r, p, salt, key = tostring(stored):match("^scrypt%$(%d+)%$(%d+)%$(%d+)%$(%x+)%$(%x+)$")
    if not n or #salt % 2 ~= 0 or #key % 2 ~= 0 then return nil end  -- hexdecode would raise
    return math.tointeger(tonumber(n)), math.tointeger(tonumber(r)), math.tointeger(tonumber(p)),
        crypt.hexdecode(salt), crypt.hexdecode(key)
end

-- true when `password` matches `stored`; false when not. Raises when `stored` is not a hash
-- this module wrote (a damaged record), naming it.
function account.verify(password, stored)
    local n, r, p, salt, key = parse(stored)
    if not n or not salt or not key then
        error("account: stored password hash is damaged: " .. tostring(stored):sub(1, 40), 0)
    end
    return crypt.equals(crypt.scrypt(password, salt, n, r, p, #key), key)
end

-- true when `stored` was hashed with weaker parameters than the current ones.
function account.needs_rehash(stored)
    local n, r, p = parse(stored)
    return not n or n < N or r < R or p < P
end

return account
