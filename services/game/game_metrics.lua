-- The game's metrics (docs/operations.md, "Metrics of Redis, locks, Sentinel, the cluster and
-- the game"), labelled with the game node's name: players online, transfers by result, gold news
-- to other nodes by the way it left, saves of player records by outcome, version conflicts by
-- decision. Children are made on first use and kept.
--
-- Thread: the world's service (the registry is the node's).
local metrics = require "skynet.metrics"

local M = {}

local function by(family, node)
    return setmetatable({}, { __index = function(t, v)
        local child = family:labels(node, v)
        t[v] = child
        return child
    end })
end

function M.new(node)
    return {
        online = metrics.gauge("skyhive_game_players_online",
            "Players logged in on this node (their login complete)", { "node" }):labels(node),
        transfers = by(metrics.counter("skyhive_game_transfers_total",
            "Gold transfers asked of this node, by result (ok, poor, unknown, busy, lost, "
                .. "missing, unavailable, error)", { "node", "result" }), node),
        saves = by(metrics.counter("skyhive_game_saves_total",
            "Saves of player records that had changes, by outcome (saved, stale, gone, "
                .. "unavailable)", { "node", "outcome" }), node),
        news = by(metrics.counter("skyhive_game_gold_news_total",
            "[gold] news of gives made here to players online on another node, by the way it "
                .. "left (channel: published by the transfer on that node's channel; cluster: a "
                .. "peer_golds call; pubsub: game:notify, the fallback)", { "node", "via" }), node),
        conflicts = by(metrics.counter("skyhive_game_version_conflicts_total",
            "Saves or reads that found another version of a player record in Redis, by "
                .. "decision (merge: ours on top; drop: theirs wins and the player is kicked)",
            { "node", "decision" }), node),
    }
end

return M
