#pragma once

// The game's ledger read as it grows. The game trims the stream to about 100,000 entries, which
// a long soak passes: the test reads it every half second and keeps every transfer since a mark,
// so balances can be checked against all of them.

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "test/integration/game_support.h"

namespace skyhive::test::game {

// Thread: one owner thread.
class LedgerTail {
  public:
    explicit LedgerTail(int redis_port) : port_(redis_port) {}

    // From now on: the transfers after the newest entry. False when Redis did not answer.
    bool mark() {
        RespClient redis(port_);
        Resp newest = redis.command({"XREVRANGE", "game:ledger", "+", "-", "COUNT", "1"});
        if (newest.type != '*') return false;
        last_ = newest.elements.empty() ? "0-0" : newest.elements[0].elements.at(0).str;
        transfers_.clear();
        return true;
    }

    // Reads what was added since the last read. False when Redis did not answer (the next call
    // tries again). Entries trimmed before this tail read them are a failure of the check, not
    // of the game: trimmed() says so.
    bool poll() {
        RespClient redis(port_);
        Resp oldest = redis.command({"XRANGE", "game:ledger", "-", "+", "COUNT", "1"});
        if (oldest.type != '*') return false;
        if (!oldest.elements.empty() && last_ != "0-0" &&
            id(oldest.elements[0].elements.at(0).str) > id(last_))
            trimmed_ = true;
        for (;;) {
            Resp batch =
                redis.command({"XRANGE", "game:ledger", "(" + last_, "+", "COUNT", "10000"});
            if (batch.type != '*') return false;
            for (auto& e : batch.elements) {
                transfers_.push_back(transfer_of(e));
                last_ = e.elements.at(0).str;
            }
            if (batch.elements.size() < 10000) return true;
        }
    }

    const std::vector<Transfer>& transfers() const { return transfers_; }
    bool trimmed() const { return trimmed_; }

  private:
    // A stream id "ms-seq" as a comparable pair.
    static std::pair<unsigned long long, unsigned long long> id(const std::string& s) {
        unsigned long long ms = 0, seq = 0;
        std::sscanf(s.c_str(), "%llu-%llu", &ms, &seq);
        return {ms, seq};
    }

    int port_;
    std::string last_ = "0-0";
    bool trimmed_ = false;
    std::vector<Transfer> transfers_;
};

}  // namespace skyhive::test::game
