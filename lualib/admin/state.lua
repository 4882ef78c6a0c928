-- The dashboard's snapshot of a node (GET /api/state): the services as the node lists them, the
-- figures the plots need, and the status boards. The dashboard turns successive snapshots into
-- rates, so every figure here is a running total or a current value.
--
-- state.new(metrics) -> snapshot(), where metrics is skynet.metrics (or a table with the same
-- collect and board functions). snapshot() does not yield; call it from the admin service.
--
-- snapshot() -> {
--   node = { name, uptime (s), time (UTC s), workers, services (count) },
--   totals = { messages, redis_commands, redis_errors, players_online },  -- absent: not kept
--   redis_latency = { count, sum, buckets = { {le, cumulative count}, ... } },  -- all clients
--   services = { { address, name, module, args, messages, cpu (s), mailbox, memory (bytes) } },
--   sentinel = board "sentinel", locks = board "locks", cluster = board "cluster",
-- }
local skynet = require "skynet"
local c = require "skynet.core"
local json = require "admin.json"

local state = {}

-- The families the snapshot reads (docs/operations.md, "Metrics").
state.FAMILIES = {
    node_messages = "skyhive_node_messages_total",
    service_messages = "skyhive_service_messages_total",
    redis_commands = "skyhive_redis_commands_total",
    redis_errors = "skyhive_redis_errors_total",
    redis_duration = "skyhive_redis_command_duration_seconds",
    players_online = "skyhive_game_players_online",
}

local function sum(family)
    if not family or not family.samples then return nil end
    local total = 0
    for _, s in ipairs(family.samples) do total = total + (s.value or 0) end
    return total
end

-- The histogram of every child of `family` merged (children share their bounds).
local function merged_histogram(family)
    if not family or family.type ~= "histogram" then return nil end
    local count, total, by_le, order = 0, 0.0, {}, {}
    for _, s in ipairs(family.samples or {}) do
        count = count + (s.count or 0)
        total = total + (s.sum or 0)
        for _, b in ipairs(s.buckets or {}) do
            local le = b[1]
            if by_le[le] == nil then
                by_le[le] = 0
                order[#order + 1] = le
            end
            by_le[le] = by_le[le] + b[2]
        end
    end
    table.sort(order)
    local buckets = json.array()
    for _, le in ipairs(order) do
        buckets[#buckets + 1] = json.array { le == math.huge and "+Inf" or le, by_le[le] }
    end
    return { count = count, sum = total, buckets = buckets }
end

-- address text -> registered name, from a per-service family labelled with both.
local function service_names(family)
    local names = {}
    for _, s in ipairs(family and family.samples or {}) do
        local l = s.labels
        if l and l.address and l.name and l.name ~= "" then names[l.address] = l.name end
    end
    return names
end

-- Seconds to the microsecond: the page shows milliseconds, and a short number encodes faster.
local function micro(seconds)
    return math.floor(seconds * 1e6 + 0.5) / 1e6
end

local function board(metrics, topic)
    local ok, value = pcall(metrics.board, topic)
    if ok and type(value) == "table" then return value end
    return {}
end

function state.new(metrics)
    assert(type(metrics) == "table" and type(metrics.collect) == "function",
        "state.new: the metrics module (skynet.metrics) is needed")
    local F = state.FAMILIES
    return function()
        local families = metrics.collect()
        local names = service_names(families[F.service_messages])
        local services = json.array()
        local messages = 0
        local list = c.list()
        table.sort(list)
        for _, h in ipairs(list) do
            local info = c.info(h)
            if info then
                local address = skynet.address(h)
                services[#services + 1] = {
                    address = address,
                    name = names[address] or "",
                    module = info.module,
                    args = info.args,
                    messages = info.messages,
                    cpu = micro(info.cpu),
                    mailbox = info.mqlen,
                    memory = info.memory,
                }
                messages = messages + info.messages
            end
        end
        local now = skynet.now()
        return {
            node = {
                name = skynet.getenv "cluster_name" or skynet.getenv "game_node" or "",
                uptime = now / 100,
                time = skynet.time(),
                workers = math.tointeger(tonumber(skynet.getenv "thread" or "")),
                services = #services,
            },
            totals = {
                -- The node's own counter also counts services that have exited since.
                messages = sum(families[F.node_messages]) or messages,
                redis_commands = sum(families[F.redis_commands]),
                redis_errors = sum(families[F.redis_errors]),
                players_online = sum(families[F.players_online]),
            },
            redis_latency = merged_histogram(families[F.redis_duration]),
            services = services,
            sentinel = board(metrics, "sentinel"),
            locks = board(metrics, "locks"),
            cluster = board(metrics, "cluster"),
        }
    end
end

return state
