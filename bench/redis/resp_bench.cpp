// Request encoding (redis.encode.*: the client's CommandBuffer against hiredis's formatter), then
// reply framing and decoding cost, for the typical reply shapes, as the Redis client pays it: the
// socket thread frames with RespFramer ("framer"), the service decodes the payload into Lua
// values with codec.decode ("decode"); "framed" is their sum. (Parsing raw bytes in the service
// instead was measured and dropped: docs/benchmarks.md.)
// The reference, measured in the same run, is hiredis used the stock way: feed each read into a
// redisReaderCreate() reader and pull redisReply trees with redisReaderGetReply (then free them).
// It builds C objects only, so it compares with "framer" (ratio = ref_ns / ns, higher is better);
// the Lua figures show what a service pays on top.
//
// Input: a stream of identical replies arriving in 16 KB reads (what hiredis itself reads at a
// time). Every figure is the median of kRuns timed runs. One line per figure, e.g.
//   redis.resp.bulk16.framer ns=38.1 replies_per_s=26246719 mb_per_s=651.2 ref_ns=61.0 ratio=1.60

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "lualib/native/redis_codec.h"
#include "redis/command.h"
#include "redis/resp_framer.h"

namespace {

using Clock = std::chrono::steady_clock;
using skyhive::Payload;

constexpr int kRuns = 7;
constexpr double kRunSeconds = 0.08;
constexpr size_t kReadSize = 16 << 10;
constexpr size_t kStreamBytes = 1 << 20;

struct Shape {
    const char* name;
    std::string reply;
};

std::string bulk(size_t n) {
    return "$" + std::to_string(n) + "\r\n" + std::string(n, 'v') + "\r\n";
}

std::vector<Shape> shapes() {
    std::string array10 = "*10\r\n";
    for (int i = 0; i < 10; ++i)
        array10 += bulk(16);
    return {{"ok", "+OK\r\n"},      {"int", ":1\r\n"},    {"bulk16", bulk(16)},
            {"bulk1k", bulk(1024)}, {"array10", array10}, {"bulk64k", bulk(64 << 10)}};
}

// A stream of at least kStreamBytes made of whole replies, cut into reads.
struct Stream {
    std::string bytes;
    size_t replies = 0;
    std::vector<std::pair<const char*, size_t>> reads;
};

Stream make_stream(const std::string& reply) {
    Stream s;
    while (s.bytes.size() < kStreamBytes || s.replies == 0) {
        s.bytes += reply;
        ++s.replies;
    }
    for (size_t pos = 0; pos < s.bytes.size(); pos += kReadSize) {
        s.reads.emplace_back(s.bytes.data() + pos, std::min(kReadSize, s.bytes.size() - pos));
    }
    return s;
}

// Time per reply of each pass (one pass = the whole stream), median over kRuns runs. The passes
// take turns within every run, so a noisy neighbour skews them alike.
std::vector<double> ns_per_reply(size_t replies, const std::vector<std::function<void()>>& passes) {
    std::vector<std::vector<double>> runs(passes.size());
    for (int r = 0; r < kRuns; ++r) {
        for (size_t i = 0; i < passes.size(); ++i) {
            size_t count = 0;
            auto t0 = Clock::now();
            double elapsed = 0;
            do {
                passes[i]();
                ++count;
                elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
            } while (elapsed < kRunSeconds);
            runs[i].push_back(elapsed * 1e9 / double(count * replies));
        }
    }
    std::vector<double> medians;
    for (auto& v : runs) {
        std::sort(v.begin(), v.end());
        medians.push_back(v[kRuns / 2]);
    }
    return medians;
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "resp_bench: %s\n", what);
    std::exit(1);
}

void reference_pass(const Stream& s) {
    redisReader* r = redisReaderCreate();
    size_t got = 0;
    for (auto [data, n] : s.reads) {
        if (redisReaderFeed(r, data, n) != REDIS_OK) die("reference feed");
        void* reply;
        while (redisReaderGetReply(r, &reply) == REDIS_OK && reply) {
            freeReplyObject(reply);
            ++got;
        }
    }
    if (got != s.replies) die("reference lost replies");
    redisReaderFree(r);
}

// Frames a stream; keeps the payloads (one per read that completed a reply) when `keep` is given,
// else frees each at once as the reference frees its replies.
void frame_all(const Stream& s, std::vector<Payload>* keep) {
    skyhive::redis::RespFramer framer;
    size_t got = 0;
    for (auto [data, n] : s.reads) {
        if (!framer.feed(data, n).ok()) die("framer feed");
        uint32_t count;
        Payload p = framer.take(&count);
        got += count;
        if (keep && count) keep->push_back(std::move(p));
    }
    if (got != s.replies) die("framer lost replies");
}

struct LuaBench {
    lua_State* L;
    int decode_ref;

    LuaBench() : L(luaL_newstate()) {
        luaL_openlibs(L);
        luaL_requiref(L, "codec", luaopen_skyhive_redis_codec, 0);
        lua_getfield(L, -1, "decode");
        decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_settop(L, 0);
    }
    ~LuaBench() { lua_close(L); }

    // What a service's dispatch does with one framed message: the replies after the framer's
    // headroom (where the socket thread writes its event header).
    size_t decode(const Payload& p) {
        constexpr size_t head = skyhive::redis::RespFramer::kHeadroom;
        lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
        lua_pushlightuserdata(L, const_cast<char*>(p.data()) + head);
        lua_pushinteger(L, p.size() - head);
        lua_call(L, 2, 2);
        size_t n = size_t(lua_tointeger(L, -1));
        lua_settop(L, 0);
        return n;
    }
};

// Request encoding: CommandBuffer (what the client uses) against hiredis's formatter
// (redisFormatSdsCommandArgv, then the copy into the pipeline buffer the client needs), for the
// same commands, kEncodeBatch per pass as a pipeline would append them.
constexpr int kEncodeBatch = 1000;

struct EncodeShape {
    const char* name;
    std::vector<std::string> args;
};

std::vector<EncodeShape> encode_shapes() {
    std::vector<std::string> hset = {"HSET", "player:1042"};
    for (int i = 0; i < 10; ++i) {
        hset.push_back("field" + std::to_string(i));
        hset.push_back(std::string(16, 'v'));
    }
    return {{"get", {"GET", "key:__rand_int__"}},
            {"set", {"SET", "key:__rand_int__", "xxx"}},
            {"hset10", hset},
            {"set1k", {"SET", "key:1", std::string(1024, 'v')}}};
}

void encode_lines() {
    for (const EncodeShape& shape : encode_shapes()) {
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        for (const std::string& a : shape.args) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        int argc = int(ptrs.size());
        skyhive::redis::CommandBuffer ours;
        std::string copy;
        std::vector<double> ns = ns_per_reply(
            kEncodeBatch, {
                              [&] {
                                  for (int i = 0; i < kEncodeBatch; ++i) {
                                      sds cmd = nullptr;
                                      int n = redisFormatSdsCommandArgv(&cmd, argc, ptrs.data(),
                                                                        lens.data());
                                      if (n < 0) die("hiredis format");
                                      // Into the pipeline buffer the client writes from.
                                      copy.append(cmd, size_t(n));
                                      redisFreeSdsCommand(cmd);
                                  }
                                  copy.clear();
                              },
                              [&] {
                                  for (int i = 0; i < kEncodeBatch; ++i)
                                      if (!ours.append(argc, ptrs.data(), lens.data()).ok())
                                          die("encode");
                                  ours.clear();
                              },
                          });
        std::printf("redis.encode.%s ns=%.1f commands_per_s=%.0f ref_ns=%.1f ratio=%.2f\n",
                    shape.name, ns[1], 1e9 / ns[1], ns[0], ns[0] / ns[1]);
        std::fflush(stdout);
    }
}

}  // namespace

int main() {
    encode_lines();
    LuaBench lua;
    for (const Shape& shape : shapes()) {
        Stream s = make_stream(shape.reply);
        double mb = double(shape.reply.size()) / 1e6;  // per reply

        std::vector<Payload> payloads;
        frame_all(s, &payloads);
        std::vector<double> ns =
            ns_per_reply(s.replies, {
                                        [&] { reference_pass(s); },
                                        [&] { frame_all(s, nullptr); },
                                        [&] {  // decode sees ready payloads, as a service does
                                            size_t got = 0;
                                            for (const Payload& p : payloads)
                                                got += lua.decode(p);
                                            if (got != s.replies) die("decode lost replies");
                                        },
                                    });
        double ref = ns[0], framer = ns[1], decode = ns[2];
        double framed = framer + decode;

        auto line = [&](const char* what, double ns, const char* extra) {
            std::printf("redis.resp.%s.%s ns=%.1f replies_per_s=%.0f mb_per_s=%.1f%s\n", shape.name,
                        what, ns, 1e9 / ns, mb * 1e9 / ns, extra);
        };
        char tail[96];
        std::snprintf(tail, sizeof tail, " ref_ns=%.1f ratio=%.2f", ref, ref / framer);
        line("framer", framer, tail);
        line("decode", decode, "");
        line("framed", framed, "");
        std::fflush(stdout);
    }
    return 0;
}
