#include "test/soak/soak_clients.h"

#include <gtest/gtest.h>

#include <random>

namespace skyhive::test::game {

std::string login_line(const std::string& name) {
    return "login " + name + " " + name + "-pw";
}

namespace {

constexpr auto kLoginPatience = std::chrono::seconds(60);  // a node restart takes about 5 s

bool starts(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}

void pause_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// A client that logs in, then sends commands and never reads: a small receive buffer, so the
// node's output piles up on the node's side rather than in this process's kernel buffers.
// Thread: one owner thread.
class SlowReader {
  public:
    explicit SlowReader(int port) : socket_(port, 4096) {}

    // Reads the greeting, sends `login` and reads its answer: true when it starts with "welcome".
    bool log_in(const std::string& login) {
        return socket_.read_line() && socket_.send(login + "\r\n") &&
               starts(socket_.read_line().value_or(""), "welcome");
    }

    // Queues `line` (unless 4 KB are already waiting to go) and sends what the socket takes
    // without blocking. False once the node has closed the connection.
    bool push(const std::string& line, bool* queued) {
        *queued = pending_.size() < 4096;
        if (*queued) pending_ += line;
        if (socket_.peer_gone()) return false;
        size_t sent = 0;
        bool ok = socket_.send_some(pending_, sent);
        pending_.erase(0, sent);
        return ok;
    }

  private:
    LineClient socket_;
    std::string pending_;
};

}  // namespace

Soak::Soak(int players, int slow_readers) : players_(players), slow_readers_(slow_readers) {
    game_port[0] = game_port[1] = 0;
}

Soak::~Soak() {
    join();
}

std::string Soak::name(int me) const {
    // Players p000..., slow readers s000...; at most 1,000 of each.
    const bool player = me < players_;
    return (player ? "p" : "s") + std::to_string(1000 + (player ? me : me - players_)).substr(1);
}

long long Soak::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0_).count();
}

bool Soak::warm_up(std::string* why) {
    // All at once, as in the run: every name logged in before the first one quits.
    std::vector<std::unique_ptr<Player>> all;
    for (int me = 0; me < players_ + slow_readers_; ++me) {
        const int node = me % 2;
        all.push_back(std::make_unique<Player>(game_port[node].load()));
        Player& p = *all.back();
        std::string r = p.ready() ? p.command(login_line(name(me))) : "(not greeted)";
        if (!starts(r, "welcome")) {
            *why = "warm-up: " + name(me) + " on n" + std::to_string(node + 1) + ": " + r;
            return false;
        }
    }
    for (int me = 0; me < players_ + slow_readers_; ++me) {
        std::string r = all[size_t(me)]->command("quit");
        if (r != "bye: your progress is saved") {
            *why = "warm-up: quit as " + name(me) + ": " + r;
            return false;
        }
    }
    return true;
}

void Soak::start(Clock::time_point t0, Clock::time_point end) {
    t0_ = t0;
    end_ = end;
    for (int me = 0; me < players_; ++me)
        threads_.emplace_back(&Soak::play, this, me);
    for (int me = players_; me < players_ + slow_readers_; ++me)
        threads_.emplace_back(&Soak::read_slowly, this, me);
}

void Soak::join() {
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void Soak::watch(Watch w, int node) {
    watches_[w].first_ms = -1;
    watches_[w].node = node;
    watches_[w].from_ms = now_ms();
}

std::string Soak::recovery(Watch w) const {
    const auto& s = watches_[w];
    if (s.from_ms.load() < 0) return "(no fault)";
    if (s.first_ms.load() < 0) return "never";
    char text[48];
    std::snprintf(text, sizeof text, "after %.1f s",
                  double(s.first_ms.load() - s.from_ms.load()) / 1000.0);
    return text;
}

std::string Soak::progress() const {
    char text[256];
    std::snprintf(text, sizeof text,
                  "%ld commands: %ld answered, %ld failed (%ld internal error), %ld cut off, "
                  "%ld timed out, %ld unexpected; %ld gives applied",
                  out_.commands.load(), out_.answered.load(), out_.failed.load(),
                  out_.internal.load(), out_.lost.load(), out_.timeouts.load(),
                  out_.unexpected.load(), out_.applied.load());
    return text;
}

std::vector<std::string> Soak::unexpected_samples() const {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_;
}

void Soak::note_unexpected(const std::string& what) {
    out_.unexpected++;
    std::lock_guard<std::mutex> lock(mu_);
    if (samples_.size() < 20) samples_.push_back(what);
}

Soak::Verdict Soak::run(Player& p, int me, const std::string& line, Cmd cmd, std::string* reply) {
    out_.commands++;
    const long long sent_ms = now_ms();
    const auto t = Clock::now();
    std::string r = p.command(line);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
    for (long long m = out_.slowest_ms.load(); ms.count() > m;)
        if (out_.slowest_ms.compare_exchange_weak(m, ms.count())) break;
    for (auto& n : p.notices)
        out_.kicks += starts(n, "[kick]");
    p.notices.clear();
    if (reply) *reply = r;
    if (cmd == Cmd::give) out_.gives++;

    if (r.empty()) {
        if (ms >= kDeadline) {
            out_.timeouts++;
            note_unexpected(name(me) + ": no answer to '" + line + "' within " +
                            std::to_string(kDeadline.count()) + " s");
        } else {
            out_.lost++;
        }
        if (cmd == Cmd::give) out_.unknown++;
        return Verdict::lost;
    }
    // The error replies every command may get while Redis or the node is in trouble.
    if (starts(r, "storage unavailable") || starts(r, "busy") || starts(r, "internal error") ||
        starts(r, "the server is shutting down") ||
        starts(r, "bye: your progress could not be saved")) {
        out_.failed++;
        out_.internal += starts(r, "internal error");
        // Only a trade refused up front (the other side is in another trade) surely did not
        // happen; the others may have.
        if (cmd == Cmd::give && r.find("is in another trade") == std::string::npos) out_.unknown++;
        return Verdict::failed;
    }
    bool ok = false, refused = false;
    switch (cmd) {
        case Cmd::login:
            ok = starts(r, "welcome");
            // Its previous session is still being closed (after quit or a cut), or its node
            // restarted and has not yet cleared what its previous run left.
            if (r.find("is already playing on") != std::string::npos) {
                out_.failed++;
                return Verdict::failed;
            }
            break;
        case Cmd::give:
            ok = starts(r, "gave ");
            refused = starts(r, "not enough gold");
            break;
        case Cmd::gold:
            ok = starts(r, "you have ");
            break;
        case Cmd::who:
            ok = r.find(" online: ") != std::string::npos;
            break;
        case Cmd::say:
            ok = starts(r, "you say: ");
            break;
        case Cmd::quit:
            ok = r == "bye: your progress is saved";
            break;
    }
    if (refused) {
        out_.answered++;
        out_.refused++;
        return Verdict::refused;
    }
    if (!ok) {
        note_unexpected(name(me) + ": '" + line + "' -> '" + r + "'");
        if (cmd == Cmd::give) out_.unknown++;
        return Verdict::failed;
    }
    out_.answered++;
    if (cmd == Cmd::give) {
        out_.applied++;
        // A give sent after the fault, applied: the game works again.
        const long long at = now_ms();
        for (auto& w : watches_) {
            long long none = -1;
            if (w.node.load() == me % 2 && w.from_ms.load() >= 0 && sent_ms >= w.from_ms.load())
                w.first_ms.compare_exchange_strong(none, at);
        }
    }
    return Verdict::answered;
}

bool Soak::login(int me, int node, std::unique_ptr<Player>& p) {
    std::string last = "(none)";
    for (auto give_up = Clock::now() + kLoginPatience; Clock::now() < give_up;) {
        if (Clock::now() >= end_) return false;  // the soak is over: nothing to log in for
        const int port = game_port[node].load();
        if (port == 0) {
            pause_ms(20);
            continue;
        }
        p = std::make_unique<Player>(port);
        if (p->ready() &&
            run(*p, me, login_line(name(me)), Cmd::login, &last) == Verdict::answered) {
            out_.logins++;
            return true;
        }
        p.reset();
        pause_ms(50);
    }
    ADD_FAILURE() << name(me) << ": could not log in on n" << node + 1 << " for "
                  << kLoginPatience.count() << " s; last answer: '" << last << "'";
    failed_ = true;
    return false;
}

void Soak::play(int me) {
    const int node = me % 2;
    std::mt19937 rng(unsigned(me) * 7919u + 17u);
    std::unique_ptr<Player> p;
    if (!login(me, node, p)) return;
    int said = 0;
    while (Clock::now() < end_) {
        const int dice = int(rng() % 100);
        std::string line;
        Cmd cmd;
        if (dice < 55) {
            int to = int(rng() % unsigned(players_ - 1));
            if (to >= me) ++to;
            cmd = Cmd::give;
            line = "give " + name(to) + " " + std::to_string(1 + rng() % 20);
        } else if (dice < 80) {
            cmd = Cmd::gold;
            line = "gold";
        } else if (dice < 90) {
            cmd = Cmd::who;
            line = "who";
        } else if (dice < 96) {
            cmd = Cmd::say;
            line = "say hello from " + name(me) + " #" + std::to_string(++said);
        } else {
            cmd = Cmd::quit;
            line = "quit";
        }
        const Verdict v = run(*p, me, line, cmd);
        if (v == Verdict::lost || (cmd == Cmd::quit && v == Verdict::answered)) {
            (v == Verdict::lost ? out_.reconnects : out_.relogins)++;
            if (!login(me, node, p)) return;
        }
        // Think time: 220 clients at full speed would measure the machine, not the game.
        pause_ms(50 + int(rng() % 200));
    }
    run(*p, me, "quit", Cmd::quit);
}

void Soak::read_slowly(int me) {
    const int node = me % 2;
    static const char* const kLines[] = {"help\r\n", "who\r\n", "gold\r\n", "help\r\n"};
    std::mt19937 rng(unsigned(me) * 104729u + 3u);
    while (Clock::now() < end_) {
        const int port = game_port[node].load();
        if (port == 0) {
            pause_ms(20);
            continue;
        }
        SlowReader s(port);
        if (!s.log_in(login_line(name(me)))) {
            pause_ms(100);
            continue;
        }
        while (Clock::now() < end_) {
            bool queued = false;
            if (!s.push(kLines[rng() % 4], &queued)) {
                out_.slow_cut++;
                break;
            }
            out_.slow_sent += queued;
            pause_ms(10);
        }
    }
}

}  // namespace skyhive::test::game
