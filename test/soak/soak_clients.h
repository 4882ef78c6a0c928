#pragma once

// The clients of the game soak: players who play for real (log in, gold, give, say, who, quit and
// come back, reconnect after a cut) and slow readers who send commands and never read a reply.
// Each runs on its own thread; Soak starts them, counts what their commands got and joins them.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/integration/game_support.h"

namespace skyhive::test::game {

// The line that logs `name` in. The one place that knows the login command's form.
std::string login_line(const std::string& name);

// What the clients' commands got. Every command ends in exactly one of: answered, failed (an
// error reply the game documents: storage unavailable, busy, internal error), lost (the
// connection was cut before the answer), timed out (no answer within kDeadline) or unexpected.
struct Outcome {
    std::atomic<long> commands{0}, answered{0}, failed{0}, internal{0}, lost{0}, timeouts{0},
        unexpected{0};
    std::atomic<long> gives{0}, applied{0}, refused{0}, unknown{0};
    std::atomic<long> logins{0}, relogins{0}, reconnects{0}, kicks{0};
    std::atomic<long> slow_sent{0}, slow_cut{0};
    std::atomic<long long> slowest_ms{0};
};

// Thread: created, started, watched and joined by one owner thread; game_port is read by the
// client threads and written by the owner (0 while that node is down).
class Soak {
  public:
    // Recoveries measured: the time from a fault to the next applied give on a node.
    enum Watch { kNodeKill, kRedisKillN1, kRedisKillN2, kWatches };

    Soak(int players, int slow_readers);
    ~Soak();
    Soak(const Soak&) = delete;
    Soak& operator=(const Soak&) = delete;

    // Game ports of n1 and n2; a client whose node's port is 0 waits for it.
    std::atomic<int> game_port[2];

    // Logs every player and slow reader in (all at once) and out again. False (and what
    // failed in `why`) if one could not.
    bool warm_up(std::string* why);
    // Starts every client; they stop starting commands at `end`.
    void start(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point end);
    // Waits for every client to quit.
    void join();

    // From now on, records the first give applied on `node` as the recovery `w`.
    void watch(Watch w, int node);
    bool recovered(Watch w) const { return watches_[w].first_ms.load() >= 0; }
    std::string recovery(Watch w) const;  // "after 0.4 s" or "never"

    const Outcome& outcome() const { return out_; }
    std::string progress() const;  // the command counts, one line
    std::vector<std::string> unexpected_samples() const;
    bool failed() const { return failed_.load(); }

  private:
    enum class Cmd { login, give, gold, who, say, quit };
    enum class Verdict { answered, refused, failed, lost };
    struct WatchState {
        std::atomic<int> node{-1};
        std::atomic<long long> from_ms{-1}, first_ms{-1};
    };

    void play(int me);
    void read_slowly(int me);
    bool login(int me, int node, std::unique_ptr<Player>& p);
    Verdict run(Player& p, int me, const std::string& line, Cmd cmd, std::string* reply = nullptr);
    void note_unexpected(const std::string& what);
    long long now_ms() const;
    std::string name(int me) const;

    const int players_, slow_readers_;
    std::chrono::steady_clock::time_point t0_, end_;
    Outcome out_;
    WatchState watches_[kWatches];
    std::atomic<bool> failed_{false};
    mutable std::mutex mu_;
    std::vector<std::string> samples_;  // guarded by mu_: the first unexpected replies
    std::vector<std::thread> threads_;
};

}  // namespace skyhive::test::game
