// A bounded soak of the game. Two nodes share one redis-server. Players log in, check their gold,
// give random amounts to random players, chat, list who is online, quit and log in again, while
// slow readers send commands and never read a reply. Once during the run a node is killed with
// SIGKILL and started again, and once the redis-server is. At the end, with every client gone:
//   - total gold is what the players started with, no balance is negative, every balance equals
//     its start plus its transfers in the ledger (read while it grows: the game trims it), and
//     every acknowledged transfer is in it;
//   - each node runs as many services as before the soak (no agent left behind), beside at most
//     one cluster link to the other node (made at its first tell or gold news there);
//   - each node's resident set is at most 20% above the most it reached in the warm-up (a bound
//     the environment can change: SKYHIVE_SOAK_RSS_GROWTH_PERCENT);
//   - every command got its answer, or failed (error reply, connection cut), within its deadline.
// It prints those figures. The duration and the client counts come from the environment, so the
// short run in CI and the long one are the same code: SKYHIVE_SOAK_SECONDS (default 30),
// SKYHIVE_SOAK_PLAYERS (40), SKYHIVE_SOAK_SLOW_READERS (4).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "test/integration/game_support.h"
#include "test/soak/ledger_tail.h"
#include "test/soak/soak_clients.h"
#include "test/support/redis_process.h"

namespace skyhive::test::game {
namespace {

constexpr long long kStartGold = 100;  // game_start_gold of config/default.lua

// An integer from the environment, or `fallback` when unset. A malformed value fails the test
// with the variable's name and what it accepts.
std::optional<int> env_int(const char* name, int fallback, int lo, int hi) {
    const char* text = std::getenv(name);
    if (!text || !*text) return fallback;
    char* end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        ADD_FAILURE() << "environment variable " << name << "='" << text
                      << "': expected a whole number from " << lo << " to " << hi;
        return std::nullopt;
    }
    return int(v);
}

// The last kLogLines lines of a node's log, without the connect and disconnect lines of the
// console's and the clients' connections.
constexpr int kLogLines = 60;
std::string log_excerpt(const std::string& log) {
    std::vector<std::string> kept;
    size_t at = 0;
    while (at < log.size()) {
        size_t nl = log.find('\n', at);
        if (nl == std::string::npos) nl = log.size();
        std::string line = log.substr(at, nl - at);
        at = nl + 1;
        if (line.find("connected") == std::string::npos) kept.push_back(line);
    }
    std::string out;
    for (size_t i = kept.size() > size_t(kLogLines) ? kept.size() - kLogLines : 0; i < kept.size();
         ++i)
        out += "    " + kept[i] + "\n";
    return out;
}

double mb(long long bytes) {
    return double(bytes) / (1024.0 * 1024.0);
}

// A node of the soak: the game node, its console port and the figures read through it.
// Thread: the test's main thread.
struct SoakNode {
    std::unique_ptr<GameNode> game;
    int console = 0;
    NodeFigures before;  // after the warm-up
    long long peak_rss = 0;
    // What the RSS check compares with: the most the node's RSS reached in the warm-up (sampled
    // twice a second) or after it. Not the RSS once the warm-up's clients have gone alone: that
    // moves with how much the allocator had given back by then (41.9 MB in one run of the long
    // soak, 50.6-50.8 MB in others, the run's end about the same in all).
    long long base_rss = 0;
    int restarts = 0;

    // Starts the node and finds its console; false if either failed.
    bool start() {
        if (!game->start()) return false;
        for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
            console = console_port(game->output());
            if (console) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    std::optional<NodeFigures> figures() {
        if (!console) return std::nullopt;
        auto f = node_figures(console);
        if (f) peak_rss = std::max(peak_rss, f->rss);
        return f;
    }
    // Polls the console until `done(figures)` holds or `limit` passed; the last figures read.
    template <class Done>
    std::optional<NodeFigures> wait_for(Done done, std::chrono::seconds limit) {
        std::optional<NodeFigures> f;
        for (auto until = Clock::now() + limit;;) {
            f = figures();
            if ((f && done(*f)) || Clock::now() > until) return f;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
};

// Under a sanitizer the node is not on jemalloc and its RSS (shadow memory, quarantine) says
// nothing about leaks: the bound holds for the allocator the node ships with.
bool rss_checked(const SoakNode& n) {
    return n.before.allocated >= 0;
}

TEST(GameSoak, PlayersAndSlowReadersThroughANodeKillAndARedisKill) {
    auto seconds = env_int("SKYHIVE_SOAK_SECONDS", 30, 10, 24 * 3600);
    auto players = env_int("SKYHIVE_SOAK_PLAYERS", 40, 2, 1000);
    auto slow = env_int("SKYHIVE_SOAK_SLOW_READERS", 4, 0, 1000);
    // How much a node's RSS may grow (after / before, in percent): 20 by default. The short CI
    // run allows more: on a node of about 13 MB, one collection cycle of the world's Lua heap
    // (2 to 3 MB of garbage) is already 20%, and 30 s is too short for real growth to stand out.
    auto growth = env_int("SKYHIVE_SOAK_RSS_GROWTH_PERCENT", 20, 0, 1000);
    ASSERT_TRUE(seconds && players && slow && growth);
    const double kRssGrowth = 1.0 + *growth / 100.0;

    // An acknowledged write must survive kill -9 of redis-server: the append-only file, synced
    // before each reply.
    RedisProcess::Options ro;
    ro.config = {"appendonly yes", "appendfsync always"};
    auto r = RedisProcess::start(ro);
    ASSERT_TRUE(r) << r.error().message;
    auto& redis_process = *r.value();

    TempDir dir;
    SoakNode nodes[2];
    for (int i = 0; i < 2; ++i) {
        nodes[i].game =
            std::make_unique<GameNode>(dir, "n" + std::to_string(i + 1), redis_process.port());
        ASSERT_TRUE(nodes[i].start()) << nodes[i].game->output();
    }

    Soak soak(*players, *slow);
    for (int i = 0; i < 2; ++i)
        soak.game_port[i] = nodes[i].game->port();

    // Warm-up, so that what a node allocates on first use is in the "before" figures rather than
    // counted as growth: every name logs in (all at once) and out, which also creates the
    // records before anyone gives; then the same clients play the same workload, without
    // faults, for a fifth of the run (15 to 60 s): the Lua heaps, the allocator's arenas of every
    // worker thread and the slow readers' buffers reach their working size. What grows past
    // that with time is what the RSS check is for.
    std::optional<NodeFigures> start_figures[2];
    for (int i = 0; i < 2; ++i) {
        start_figures[i] = nodes[i].figures();
        ASSERT_TRUE(start_figures[i]) << "node n" << i + 1 << ": no answer from its console";
    }
    const auto warm_s = std::clamp(*seconds / 5, 15, 60);
    {
        Soak warm(*players, *slow);
        for (int i = 0; i < 2; ++i)
            warm.game_port[i] = nodes[i].game->port();
        std::string why;
        ASSERT_TRUE(warm.warm_up(&why)) << why;
        const auto warm_end = Clock::now() + std::chrono::seconds(warm_s);
        warm.start(Clock::now(), warm_end);
        for (auto& n : nodes)
            n.peak_rss = 0;
        while (Clock::now() < warm_end) {
            for (auto& n : nodes)
                n.figures();
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        warm.join();
        std::printf("soak: warm-up, %d s: %s\n", warm_s, warm.progress().c_str());
        for (auto& line : warm.unexpected_samples())
            ADD_FAILURE() << "warm-up: unexpected reply: " << line;
        if (warm.failed() || warm.outcome().unexpected.load() > 0) {
            for (int i = 0; i < 2; ++i)
                std::printf("soak: n%d's log (the last %d lines):\n%s", i + 1, kLogLines,
                            log_excerpt(nodes[i].game->output()).c_str());
            FAIL() << "the warm-up failed: see above";
        }
    }
    for (int i = 0; i < 2; ++i) {
        const size_t base = start_figures[i]->services;
        auto f = nodes[i].wait_for([&](const NodeFigures& f) { return f.services == base; },
                                   std::chrono::seconds(20));
        ASSERT_TRUE(f && f->services == base)
            << "node n" << i + 1 << " runs " << (f ? f->services : 0) << " services after the "
            << "warm-up, " << base << " before it: the warm-up left services behind";
        nodes[i].before = *f;
        nodes[i].base_rss = std::max(nodes[i].peak_rss, f->rss);
        nodes[i].peak_rss = f->rss;
    }
    // The balances the run starts from (nobody plays now), and the ledger from here on.
    std::map<std::string, long long> start_gold;
    {
        RespClient redis(redis_process.port());
        start_gold = balances(redis);
    }
    LedgerTail tail(redis_process.port());
    ASSERT_TRUE(tail.mark()) << "no answer from redis-server on port " << redis_process.port();

    // The run: the clients play until the end; this thread injects the faults and samples RSS.
    const auto t0 = Clock::now();
    const auto end = t0 + std::chrono::seconds(*seconds);
    soak.start(t0, end);
    const auto kill_node_at = t0 + std::chrono::seconds(*seconds) / 3;
    const auto kill_redis_at = t0 + std::chrono::seconds(*seconds) * 2 / 3;
    bool node_killed = false, redis_killed = false, restarted = true, redis_back = true;
    double node_down_s = 0, redis_down_s = 0, node_kill_s = 0, redis_kill_s = 0;
    auto since = [&](Clock::time_point a) {
        return std::chrono::duration<double>(Clock::now() - a).count();
    };
    for (auto next_print = t0 + std::chrono::seconds(30); Clock::now() < end;) {
        for (auto& n : nodes)
            n.figures();
        tail.poll();  // fails while redis-server is down: the next one reads on
        if (!node_killed && Clock::now() >= kill_node_at) {
            node_killed = true;
            node_kill_s = since(t0);
            auto down = Clock::now();
            soak.game_port[0] = 0;
            nodes[0].console = 0;
            nodes[0].game->kill();
            soak.watch(Soak::kNodeKill, 0);  // every give applied from now on is the new run's
            ++nodes[0].restarts;
            restarted = nodes[0].start();  // no ASSERT while the clients run
            node_down_s = since(down);
            if (restarted) soak.game_port[0] = nodes[0].game->port();
        }
        if (!redis_killed && Clock::now() >= kill_redis_at) {
            redis_killed = true;
            redis_kill_s = since(t0);
            auto down = Clock::now();
            redis_process.signal(SIGKILL);
            soak.watch(Soak::kRedisKillN1, 0);
            soak.watch(Soak::kRedisKillN2, 1);
            redis_back = bool(redis_process.restart());
            redis_down_s = since(down);
        }
        if (Clock::now() >= next_print) {
            next_print += std::chrono::seconds(30);
            std::printf("soak: %4.0f s: %s; rss n1 %.1f MB, n2 %.1f MB\n", since(t0),
                        soak.progress().c_str(), mb(nodes[0].peak_rss), mb(nodes[1].peak_rss));
            std::fflush(stdout);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the sampling period
    }
    soak.join();
    const double run_s = since(t0);
    ASSERT_TRUE(restarted) << nodes[0].game->output();
    ASSERT_TRUE(redis_back) << "redis-server did not come back on port " << redis_process.port();

    // Every client has quit or closed: each node must come back to its services and memory.
    // Freed memory goes back to the system over a few seconds (jemalloc's decay), hence a wait.
    std::optional<NodeFigures> after[2];
    double settle_s = 0;
    {
        const auto t = Clock::now();
        auto settled = [&](int i) {
            return after[i] && after[i]->services == nodes[i].before.services &&
                   (!rss_checked(nodes[i]) ||
                    double(after[i]->rss) <= double(nodes[i].base_rss) * kRssGrowth);
        };
        for (auto until = t + std::chrono::seconds(30);;) {
            for (int i = 0; i < 2; ++i)
                after[i] = nodes[i].figures();
            if ((settled(0) && settled(1)) || Clock::now() > until) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        settle_s = since(t);
    }

    bool ledger_read = false;
    for (auto until = Clock::now() + kDeadline; !ledger_read && Clock::now() < until;)
        ledger_read = tail.poll();
    RespClient redis(redis_process.port());
    auto gold = balances(redis);
    const auto& transfers = tail.transfers();
    long long start_total = 0;
    for (auto& [name, g] : start_gold)
        start_total += g;
    long long total = 0, lowest = kStartGold;
    std::map<std::string, long long> expect;
    for (auto& [name, g] : gold) {
        total += g;
        lowest = std::min(lowest, g);
        expect[name] = start_gold.count(name) ? start_gold[name] : kStartGold;
    }
    for (auto& t : transfers) {
        expect[t.from] -= t.amount;
        expect[t.to] += t.amount;
    }
    size_t equal = 0;
    for (auto& [name, g] : gold)
        equal += expect[name] == g;
    const auto& out = soak.outcome();

    std::printf("soak: %.0f s, %d players and %d slow readers on 2 nodes, redis on port %d\n",
                run_s, *players, *slow, redis_process.port());
    std::printf("soak: %s\n", soak.progress().c_str());
    std::printf(
        "soak: slowest answer %lld ms; %ld logins (%ld after quit, %ld after a cut); "
        "%ld kicks\n",
        out.slowest_ms.load(), out.logins.load(), out.relogins.load(), out.reconnects.load(),
        out.kicks.load());
    std::printf("soak: gives %ld: %ld applied, %ld short of gold, %ld outcome unknown\n",
                out.gives.load(), out.applied.load(), out.refused.load(), out.unknown.load());
    std::printf("soak: slow readers: %ld commands sent and never read, %ld cut off by a node\n",
                out.slow_sent.load(), out.slow_cut.load());
    std::printf(
        "soak: kill -9 n1 at %.0f s: listening again after %.1f s, first applied give on n1 %s "
        "the kill\n",
        node_kill_s, node_down_s, soak.recovery(Soak::kNodeKill).c_str());
    std::printf(
        "soak: kill -9 redis-server at %.0f s: answering again after %.1f s, first applied "
        "give on n1 %s the kill, on n2 %s\n",
        redis_kill_s, redis_down_s, soak.recovery(Soak::kRedisKillN1).c_str(),
        soak.recovery(Soak::kRedisKillN2).c_str());
    std::printf(
        "soak: gold %lld before, %lld after (%zu players); lowest balance %lld; %zu of "
        "%zu balances equal to their start plus the run's ledger (%zu transfers)\n",
        start_total, total, gold.size(), lowest, equal, gold.size(), transfers.size());
    for (int i = 0; i < 2; ++i) {
        auto& n = nodes[i];
        long long rss = after[i] ? after[i]->rss : 0;
        std::printf(
            "soak: n%d%s: services %zu -> %zu; rss %.1f MB (warm-up's most %.1f MB) -> %.1f MB "
            "(%+.1f%% of the most, peak %.1f MB, waited %.1f s); jemalloc allocated %.1f MB -> "
            "%.1f MB%s\n",
            i + 1, n.restarts ? " (restarted)" : "", n.before.services,
            after[i] ? after[i]->services : 0, mb(n.before.rss), mb(n.base_rss), mb(rss),
            100.0 * (double(rss) / double(n.base_rss) - 1.0), mb(n.peak_rss), settle_s,
            mb(n.before.allocated), mb(after[i] ? after[i]->allocated : -1),
            rss_checked(n) ? "" : " (not on jemalloc: RSS not checked)");
    }
    std::fflush(stdout);
    // When a node did not come back, what holds its memory, and whether a full Lua collection
    // gives it back (garbage the collector has not reached yet) or not (live data: a leak).
    for (int i = 0; i < 2; ++i) {
        if (!rss_checked(nodes[i]) ||
            (after[i] && double(after[i]->rss) <= double(nodes[i].base_rss) * kRssGrowth))
            continue;
        DebugConsole c(nodes[i].console);
        ConsoleReply mem = c.run("mem");
        ConsoleReply gc = mem.ok() ? c.run("gc") : ConsoleReply{};
        auto f = gc.ok() ? node_figures(nodes[i].console) : std::nullopt;
        std::printf("soak: n%d Lua memory by service:\n", i + 1);
        for (auto& line : mem.lines)
            std::printf("soak:   %s\n", line.c_str());
        std::printf("soak: n%d after a full gc in every Lua service:\n", i + 1);
        for (auto& line : gc.lines)
            std::printf("soak:   %s\n", line.c_str());
        if (f)
            std::printf("soak: n%d after the gc: rss %.1f MB, jemalloc allocated %.1f MB\n", i + 1,
                        mb(f->rss), mb(f->allocated));
    }
    std::fflush(stdout);
    for (auto& line : soak.unexpected_samples())
        ADD_FAILURE() << "unexpected reply: " << line;

    // Gold, balances and the ledger.
    ASSERT_TRUE(ledger_read) << "no answer from redis-server on port " << redis_process.port();
    EXPECT_FALSE(tail.trimmed()) << "the ledger was trimmed past what the test had read";
    EXPECT_EQ(gold.size(), size_t(*players + *slow));
    EXPECT_EQ(start_total, (long long)gold.size() * kStartGold) << "gold changed in the warm-up";
    EXPECT_EQ(total, start_total) << "gold was created or destroyed";
    EXPECT_GE(lowest, 0) << "a balance went negative";
    EXPECT_EQ(expect, gold) << "a balance differs from what the ledger says";
    EXPECT_GE(transfers.size(), size_t(out.applied.load())) << "an acknowledged give was lost";
    EXPECT_LE(transfers.size(), size_t(out.applied.load() + out.unknown.load()));

    // The clients played, through both faults, and nothing hung.
    EXPECT_EQ(out.timeouts.load(), 0)
        << "commands without an answer within " << kDeadline.count() << " s";
    EXPECT_EQ(out.unexpected.load(), 0);
    EXPECT_GT(out.applied.load(), 0);
    EXPECT_GT(out.lost.load() + out.reconnects.load(), 0) << "n1's players were not cut off";
    EXPECT_TRUE(soak.recovered(Soak::kNodeKill)) << "no give applied on n1 after its restart";
    EXPECT_TRUE(soak.recovered(Soak::kRedisKillN1)) << "no give applied on n1 after the redis kill";
    EXPECT_TRUE(soak.recovered(Soak::kRedisKillN2)) << "no give applied on n2 after the redis kill";
    EXPECT_FALSE(soak.failed()) << "a client gave up (see the failures above)";

    // Nothing left behind, and memory back where it was.
    for (int i = 0; i < 2; ++i) {
        auto& n = nodes[i];
        ASSERT_TRUE(after[i]) << "node n" << i + 1 << ": no answer from its console";
        EXPECT_EQ(after[i]->services, n.before.services) << "node n" << i + 1 << " leaked services";
        EXPECT_LE(after[i]->links, 1u)
            << "node n" << i + 1 << " has more than one link to its peer";
        if (rss_checked(n)) {
            EXPECT_LE(double(after[i]->rss), double(n.base_rss) * kRssGrowth)
                << "node n" << i + 1 << " grew by more than " << *growth
                << "% over the most it reached in the warm-up";
        }
    }

    EXPECT_EQ(nodes[0].game->stop(), 0) << log_excerpt(nodes[0].game->output());
    EXPECT_EQ(nodes[1].game->stop(), 0) << log_excerpt(nodes[1].game->output());
    if (HasFailure()) {
        for (int i = 0; i < 2; ++i)
            std::printf("soak: n%d's log (the game's lines, the last %d):\n%s", i + 1, kLogLines,
                        log_excerpt(nodes[i].game->output()).c_str());
    }
}

}  // namespace
}  // namespace skyhive::test::game
