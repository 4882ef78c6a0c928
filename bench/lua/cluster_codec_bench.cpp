// The cluster link codec's cost per message, both directions on one thread: request() into
// frames, the frames joined as the framer would deliver them, feed() back into the message.
//
// Figures (median of several timed runs):
//   cluster.codec.small   a 40-byte call: ns per message (encode + feed + free)
//   cluster.codec.1mb     1 MB calls in 64 KB parts: MB/s of data, against the reference of two
//                         memcpy of the same bytes (the one copy each way the codec allows);
//                         ratio = our MB/s / reference MB/s
// Output: one line per figure, e.g.
//   cluster.codec.1mb mb_s=3500 ref_mb_s=5200 ratio=0.67

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lualib/native/cluster_codec.h"

namespace {

using namespace skyhive;
using namespace skyhive::cluster;
using Clock = std::chrono::steady_clock;

constexpr int kRuns = 7;

std::string packed(const std::string& data) {
    std::string out(16, '\0');
    out.resize(pack_string(".world", 6, out.data()));
    return out + data;
}

// One message through both directions. -> bytes delivered (so nothing is optimised away).
size_t round_trip(Codec& tx, Codec& rx, const std::string& msg, std::vector<Payload>& frames,
                  std::vector<Item>& items, std::string& wire) {
    frames.clear();
    if (!tx.request(1, false, msg.data(), msg.size(), frames)) std::abort();
    size_t got = 0;
    if (frames.size() == 1) {
        if (!rx.feed(frames[0].data(), frames[0].size(), items)) std::abort();
    } else {
        // Several frames per framer payload, as reads of a busy link deliver them.
        for (size_t i = 0; i < frames.size(); i += 4) {
            wire.clear();
            for (size_t j = i; j < std::min(frames.size(), i + 4); ++j)
                wire.append(frames[j].view());
            if (!rx.feed(wire.data(), wire.size(), items)) std::abort();
        }
    }
    for (auto& it : items) {
        got += it.size;
        std::free(it.data);
    }
    items.clear();
    return got;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main() {
    Codec tx{Limits{}}, rx{Limits{}};
    std::vector<Payload> frames;
    std::vector<Item> items;
    std::string wire;
    size_t sink = 0;

    const std::string small = packed(std::string(32, 's'));
    std::vector<double> ns;
    for (int r = 0; r < kRuns; ++r) {
        const int n = 200000;
        auto t0 = Clock::now();
        for (int i = 0; i < n; ++i)
            sink += round_trip(tx, rx, small, frames, items, wire);
        ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n);
    }
    std::printf("cluster.codec.small ns=%.0f bytes=%zu\n", median(ns), small.size());

    const std::string big = packed(std::string(1 << 20, 'b'));
    std::vector<char> a(big.size()), b(big.size());
    std::vector<double> ours, ref;
    for (int r = 0; r < kRuns; ++r) {
        const int n = 100;
        auto t0 = Clock::now();
        for (int i = 0; i < n; ++i)
            sink += round_trip(tx, rx, big, frames, items, wire);
        ours.push_back(n * double(1 << 20) / 1e6 /
                       std::chrono::duration<double>(Clock::now() - t0).count());
        t0 = Clock::now();
        for (int i = 0; i < n; ++i) {
            std::memcpy(a.data(), big.data(), big.size());
            std::memcpy(b.data(), a.data(), a.size());
            sink += size_t(b[size_t(i)]);
        }
        ref.push_back(n * double(1 << 20) / 1e6 /
                      std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::printf("cluster.codec.1mb mb_s=%.0f ref_mb_s=%.0f ratio=%.2f\n", median(ours), median(ref),
                median(ours) / median(ref));
    return sink == 0 ? 1 : 0;
}
