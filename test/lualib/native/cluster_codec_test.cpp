#include "lualib/native/cluster_codec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace skyhive::cluster {
namespace {

std::string be32(uint32_t v) {
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    return std::string(b, 4);
}

std::string frame(const std::string& body) {
    return be32(uint32_t(body.size())) + body;
}

std::string bytes(size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::mt19937 rng(seed);
    for (auto& c : s)
        c = char(rng());
    return s;
}

// skynet.pack(name) followed by `data`, as a caller's message would be.
std::string packed(const std::string& name, const std::string& data) {
    std::string out(name.size() + 5, '\0');
    out.resize(pack_string(name.data(), name.size(), out.data()));
    return out + data;
}

std::string packed(int64_t handle, const std::string& data) {
    std::string out(9, '\0');
    out.resize(pack_integer(handle, out.data()));
    return out + data;
}

std::string joined(const std::vector<Payload>& frames) {
    std::string s;
    for (const auto& f : frames)
        s.append(f.view());
    return s;
}

// Frees what the codec produced, so that the sanitizers see no leak.
struct Items {
    std::vector<Item> v;
    ~Items() { clear(); }
    void clear() {
        for (auto& it : v)
            if (it.kind > kMaxControl) std::free(it.data);
        v.clear();
    }
    std::string data(size_t i) const { return std::string(v[i].data, v[i].size); }
};

// ---- framer ------------------------------------------------------------------------------

std::string sample_stream() {
    std::string s;
    for (size_t n : {1u, 2u, 3u, 4u, 5u, 17u, 300u, 4096u, 70000u})
        s += frame(bytes(n, unsigned(n)));
    return s;
}

// Feeds `stream` cut at `cuts` (sorted offsets) and returns what the framer delivered.
std::string through_framer(const std::string& stream, const std::vector<size_t>& cuts,
                           uint32_t* frames) {
    Framer f;
    std::string out;
    size_t from = 0;
    *frames = 0;
    auto feed = [&](size_t to) {
        EXPECT_TRUE(f.feed(stream.data() + from, to - from).ok());
        uint32_t n = 0;
        Payload p = f.take(&n);
        *frames += n;
        EXPECT_EQ(n == 0, p.empty());
        out.append(p.view());
        from = to;
    };
    for (size_t c : cuts)
        feed(c);
    feed(stream.size());
    return out;
}

TEST(ClusterFramer, EveryTwoWaySplitDeliversTheFramesAsOnTheWire) {
    std::string stream;
    for (size_t n : {1u, 2u, 9u, 31u})
        stream += frame(bytes(n, unsigned(n)));
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        uint32_t n = 0;
        EXPECT_EQ(through_framer(stream, {cut}, &n), stream) << "cut at " << cut;
        EXPECT_EQ(n, 4u);
    }
}

TEST(ClusterFramer, RandomSplitsAndByteAtATime) {
    const std::string stream = sample_stream();
    std::mt19937 rng(7);
    for (int round = 0; round < 50; ++round) {
        std::vector<size_t> cuts;
        size_t at = 0;
        while (true) {
            at += 1 + rng() % (round % 2 ? 9000 : 40);
            if (at >= stream.size()) break;
            cuts.push_back(at);
        }
        uint32_t n = 0;
        ASSERT_EQ(through_framer(stream, cuts, &n), stream) << "round " << round;
        EXPECT_EQ(n, 9u);
    }
}

TEST(ClusterFramer, ManyFramesInOneReadAreOneBatch) {
    const std::string stream = sample_stream() + frame("x");
    Framer f;
    ASSERT_TRUE(f.feed(stream.data(), stream.size()).ok());
    uint32_t n = 0;
    Payload p = f.take(&n);
    EXPECT_EQ(n, 10u);
    EXPECT_EQ(p.view(), stream);
    p = f.take(&n);
    EXPECT_EQ(n, 0u);
    EXPECT_TRUE(p.empty());
}

TEST(ClusterFramer, MaxFrameIsAcceptedAndOneMoreIsAnError) {
    Framer f(100);
    const std::string ok = frame(std::string(100, 'a'));
    ASSERT_TRUE(f.feed(ok.data(), ok.size()).ok());
    uint32_t n = 0;
    EXPECT_EQ(f.take(&n).view(), ok);
    // The error comes as soon as the length is in, before any of the body.
    const std::string big = be32(101);
    auto r = f.feed(big.data(), big.size());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "cluster frame of 101 bytes: more than the maximum 100");
    auto again = f.feed("x", 1);
    EXPECT_FALSE(again.ok());
}

TEST(ClusterFramer, EmptyFrameIsAnErrorAndEarlierFramesStayTakeable) {
    Framer f;
    const std::string s = frame("ab") + be32(0);
    // Split inside the bad length, so the check runs across reads.
    ASSERT_TRUE(f.feed(s.data(), s.size() - 2).ok());
    auto r = f.feed(s.data() + s.size() - 2, 2);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "empty cluster frame");
    uint32_t n = 0;
    EXPECT_EQ(f.take(&n).view(), frame("ab"));
    EXPECT_EQ(n, 1u);
}

TEST(ClusterFramer, HugeLengthIsRefusedWithoutAllocating) {
    Framer f;
    const std::string s = be32(0xffffffffu);
    auto r = f.feed(s.data(), s.size());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "cluster frame of 4294967295 bytes: more than the maximum 262144");
}

// ---- codec -------------------------------------------------------------------------------

Limits small_parts(uint32_t part) {
    Limits l;
    l.part = part;
    return l;
}

TEST(ClusterCodec, SmallRequestByNameIsOneFrame) {
    Codec c{Limits{}};
    std::vector<Payload> frames;
    ASSERT_TRUE(c.request(7, false, packed(".world", "args").data(),
                          packed(".world", "args").size(), frames));
    ASSERT_EQ(frames.size(), 1u);
    const std::string body = std::string(1, char(kRequest)) + be32(7) + std::string(1, '\0') +
                             be32(4) + std::string("\x01\x06.world", 8) + "args";
    EXPECT_EQ(frames[0].view(), frame(body));

    Codec peer{Limits{}};
    Items got;
    ASSERT_TRUE(peer.feed(frames[0].data(), frames[0].size(), got.v)) << peer.error();
    ASSERT_EQ(got.v.size(), 1u);
    EXPECT_EQ(got.v[0].kind, kRequest);
    EXPECT_EQ(got.v[0].session, 7u);
    EXPECT_EQ(got.v[0].flags, 0);
    EXPECT_TRUE(got.v[0].by_name);
    EXPECT_EQ(got.v[0].name, ".world");
    EXPECT_EQ(got.data(0), "args");
}

TEST(ClusterCodec, HandleAddressesOfEveryIntegerWidthAndThePushFlag) {
    for (int64_t h : {int64_t(1), int64_t(127), int64_t(128), int64_t(40000), int64_t(0x7fffffff),
                      int64_t(0xffffffff)}) {
        Codec c{Limits{}};
        std::vector<Payload> frames;
        const std::string m = packed(h, "z");
        ASSERT_TRUE(c.request(1, true, m.data(), m.size(), frames)) << c.error();
        Items got;
        ASSERT_TRUE(c.feed(frames[0].data(), frames[0].size(), got.v)) << c.error();
        ASSERT_EQ(got.v.size(), 1u);
        EXPECT_FALSE(got.v[0].by_name);
        EXPECT_EQ(got.v[0].handle, uint32_t(h));
        EXPECT_EQ(got.v[0].flags, kFlagPush);
        EXPECT_EQ(got.data(0), "z");
    }
}

TEST(ClusterCodec, EmptyDataHasNoBuffer) {
    Codec c{Limits{}};
    std::vector<Payload> frames;
    const std::string m = packed(".x", "");
    ASSERT_TRUE(c.request(3, false, m.data(), m.size(), frames));
    ASSERT_TRUE(c.response(3, true, nullptr, 0, frames));
    const std::string wire = joined(frames);
    Items got;
    ASSERT_TRUE(c.feed(wire.data(), wire.size(), got.v)) << c.error();
    ASSERT_EQ(got.v.size(), 2u);
    EXPECT_EQ(got.v[0].data, nullptr);
    EXPECT_EQ(got.v[1].kind, kResponse);
    EXPECT_EQ(got.v[1].flags, kFlagOk);
    EXPECT_EQ(got.v[1].size, 0u);
}

TEST(ClusterCodec, LargeMessagesAreSplitAtPartAndReassembled) {
    const uint32_t part = 1000;
    for (size_t size :
         {size_t(999), size_t(1000), size_t(1001), size_t(3000), size_t(3007), size_t(200000)}) {
        Codec c{small_parts(part)};
        const std::string data = bytes(size, unsigned(size));
        std::vector<Payload> frames;
        ASSERT_TRUE(c.response(9, false, data.data(), data.size(), frames));
        EXPECT_EQ(frames.size(), (size + part - 1) / part) << size;
        for (const auto& f : frames)
            EXPECT_LE(f.size(), 4 + kMaxHeader + part);
        // Fed one frame at a time: nothing completes before the last part.
        Items got;
        for (size_t i = 0; i < frames.size(); ++i) {
            ASSERT_TRUE(c.feed(frames[i].data(), frames[i].size(), got.v)) << c.error();
            EXPECT_EQ(got.v.size(), i + 1 == frames.size() ? 1u : 0u);
            EXPECT_EQ(c.pending_messages(), i + 1 == frames.size() ? 0u : 1u);
        }
        EXPECT_EQ(got.v[0].kind, kResponse);
        EXPECT_EQ(got.v[0].flags, 0);  // an error response
        EXPECT_EQ(got.data(0), data);
        EXPECT_EQ(c.pending_bytes(), 0u);
    }
}

TEST(ClusterCodec, PartsOfTwoMessagesInterleaveAndSmallOnesOvertake) {
    Codec sender{small_parts(500)};
    const std::string a = bytes(2300, 1), b = bytes(1700, 2);
    std::vector<Payload> fa, fb, fs, fr;
    const std::string ma = packed(".a", a), mb = packed(42, b), ms = packed("@s", "small");
    ASSERT_TRUE(sender.request(1, false, ma.data(), ma.size(), fa));
    ASSERT_TRUE(sender.request(2, false, mb.data(), mb.size(), fb));
    ASSERT_TRUE(sender.request(3, true, ms.data(), ms.size(), fs));
    // A response with the same session as request 1: a different direction, a different message.
    const std::string r = bytes(1200, 3);
    ASSERT_TRUE(sender.response(1, true, r.data(), r.size(), fr));
    std::string wire;
    for (size_t i = 0; i < 5; ++i) {
        if (i < fa.size()) wire.append(fa[i].view());
        if (i < fb.size()) wire.append(fb[i].view());
        if (i < fr.size()) wire.append(fr[i].view());
        if (i == 1) wire.append(fs[0].view());
    }
    Codec receiver{small_parts(500)};
    Items got;
    ASSERT_TRUE(receiver.feed(wire.data(), wire.size(), got.v)) << receiver.error();
    ASSERT_EQ(got.v.size(), 4u);
    // Completion order: the small push, the response (3 frames), b (4), a (5).
    EXPECT_EQ(got.v[0].session, 3u);
    EXPECT_EQ(got.v[0].name, "@s");
    EXPECT_EQ(got.data(0), "small");
    EXPECT_EQ(got.v[1].kind, kResponse);
    EXPECT_EQ(got.data(1), r);
    EXPECT_EQ(got.v[2].handle, 42u);
    EXPECT_EQ(got.data(2), b);
    EXPECT_EQ(got.v[3].name, ".a");
    EXPECT_EQ(got.data(3), a);
}

TEST(ClusterCodec, ControlFramesPassThroughInOrder) {
    Codec c{Limits{}};
    const std::string wire = frame("\x01hello") + frame(std::string("\x0f", 1));
    Items got;
    ASSERT_TRUE(c.feed(wire.data(), wire.size(), got.v));
    ASSERT_EQ(got.v.size(), 2u);
    EXPECT_EQ(got.v[0].kind, 1);
    EXPECT_EQ(std::string(got.v[0].data, got.v[0].size), "hello");
    EXPECT_EQ(got.v[1].kind, 15);
    EXPECT_EQ(got.v[1].size, 0u);
}

TEST(ClusterCodec, MessageAboveMaxMessageProducesNothing) {
    Limits l;
    l.max_message = 100;
    Codec c{l};
    std::vector<Payload> frames;
    const std::string m = packed(".a", std::string(100, 'x'));
    EXPECT_FALSE(c.request(1, false, m.data(), m.size(), frames));
    EXPECT_EQ(c.error(), "message of 103 bytes is larger than cluster_max_message (100)");
    EXPECT_FALSE(c.response(1, true, m.data(), 101, frames));
    EXPECT_EQ(c.error(), "message of 101 bytes is larger than cluster_max_message (100)");
    EXPECT_TRUE(frames.empty());
}

TEST(ClusterCodec, AddressesThatAreNotAHandleOrANameAreRefused) {
    Codec c{Limits{}};
    std::vector<Payload> frames;
    auto refuse = [&](const std::string& m, const char* text) {
        EXPECT_FALSE(c.request(1, false, m.data(), m.size(), frames));
        EXPECT_EQ(c.error(), text);
    };
    refuse(std::string("\xc0", 1),
           "cluster request: the address is a nil (a handle or a service "
           "name expected)");
    refuse("\xc2",
           "cluster request: the address is a boolean (a handle or a service name expected)");
    refuse(std::string("\xa0", 1),
           "cluster request: the address is a table (a handle or a service name expected)");
    refuse(std::string("\xc7\0\0\0\0\0\0\0\0", 9),
           "cluster request: the address is a float (a handle or a service name expected)");
    refuse(packed(0, ""), "cluster request: address handle 0 is out of range");
    refuse(packed(-5, ""), "cluster request: address handle -5 is out of range");
    refuse(packed(int64_t(1) << 32, ""),
           "cluster request: address handle 4294967296 is out of range");
    refuse(packed("", "x"), "cluster request: address name of 0 bytes (1 to 255 expected)");
    refuse(packed(std::string(256, 'n'), "x"),
           "cluster request: address name of 256 bytes (1 to 255 expected)");
    refuse(std::string("\xc5\1", 2), "cluster request: truncated address integer");
    refuse(std::string("\x85.ab", 4), "cluster request: truncated address string");
    refuse("", "cluster request: no address (the message is empty)");
    EXPECT_TRUE(frames.empty());
}

// Feeds `wire` to a fresh codec and expects the error `text`, with nothing left produced.
void expect_malformed(const std::string& wire, const std::string& text, Limits l = {}) {
    Codec c{l};
    Items got;
    EXPECT_FALSE(c.feed(wire.data(), wire.size(), got.v));
    EXPECT_EQ(c.error(), text);
    EXPECT_TRUE(got.v.empty());
}

std::string req_head(uint32_t session, uint8_t flags, uint32_t total) {
    return std::string(1, char(kRequest)) + be32(session) + std::string(1, char(flags)) +
           be32(total);
}
std::string resp_head(uint32_t session, uint8_t flags, uint32_t total) {
    return std::string(1, char(kResponse)) + be32(session) + std::string(1, char(flags)) +
           be32(total);
}
std::string part_head(uint32_t session, uint8_t flags) {
    return std::string(1, char(kPart)) + be32(session) + std::string(1, char(flags));
}
const std::string kAddr("\0\0\0\0\x05", 5);

TEST(ClusterCodec, EveryMalformedFrameIsNamed) {
    const std::string ok = frame(std::string("\x01", 1));  // a control frame before the bad one
    expect_malformed(ok + frame("\x13"), "cluster frame at byte 5: unknown kind 19");
    expect_malformed(frame(std::string("\0", 1)), "cluster frame at byte 0: unknown kind 0");
    expect_malformed(ok + frame(req_head(1, 0, 0)),
                     "cluster request frame at byte 5: truncated (10 bytes)");
    expect_malformed(frame(resp_head(1, 0, 0).substr(0, 9)),
                     "cluster response frame at byte 0: truncated (9 bytes)");
    expect_malformed(frame(req_head(1, 0, 0) + std::string("\0\0\0", 3)),
                     "cluster request session 1: truncated address");
    expect_malformed(frame(req_head(1, 0, 0) + std::string("\x01\x05.ab", 5)),
                     "cluster request session 1: truncated address name");
    expect_malformed(frame(req_head(1, 0, 0) + std::string("\x01\x00", 2)),
                     "cluster request session 1: truncated address name");
    expect_malformed(frame(req_head(1, 0, 0) + std::string("\x02\x00", 2)),
                     "cluster request session 1: unknown address type 2");
    expect_malformed(frame(req_head(4, 0x84, 0) + kAddr),
                     "cluster request session 4: unknown flags 0x84");
    expect_malformed(frame(part_head(4, 4)), "cluster part of session 4: unknown flags 0x04");
    expect_malformed(frame(part_head(8, kFlagOfResponse) + "x"),
                     "cluster part of response session 8: no first frame");
    expect_malformed(frame(part_head(8, 0).substr(0, 5)),
                     "cluster part frame at byte 0: truncated (5 bytes)");
    expect_malformed(frame(req_head(2, 0, 3) + kAddr + "abcd"),
                     "cluster request session 2: parts exceed its total of 3 bytes");
    expect_malformed(frame(req_head(2, 0, 5) + kAddr + "abcd"),
                     "cluster request session 2: its last part leaves it 1 bytes short of 5");
    expect_malformed(frame(resp_head(2, kFlagMore, 5) + "ab") + frame(part_head(2, 1) + "abcd"),
                     "cluster response session 2: parts exceed its total of 5 bytes");
    expect_malformed(frame(resp_head(2, kFlagMore, 5) + "ab") + frame(part_head(2, 1) + "a"),
                     "cluster response session 2: its last part leaves it 2 bytes short of 5");
    expect_malformed(frame(resp_head(2, kFlagMore, 5) + "ab") + frame(resp_head(2, 0, 0)),
                     "cluster response session 2: a new message while the previous one is "
                     "incomplete");
    expect_malformed(be32(1), "cluster frames: frame of 1 bytes at byte 0 does not fit");
    expect_malformed(ok + std::string("\0\0", 2), "cluster frames: truncated length at byte 5");
    expect_malformed(be32(0), "cluster frames: frame of 0 bytes at byte 0 does not fit");
}

TEST(ClusterCodec, TotalAboveMaxMessageIsRefusedBeforeAnythingIsProduced) {
    Limits l;
    l.max_message = 1000;
    l.max_pending = 1500;
    expect_malformed(frame(resp_head(5, kFlagMore, 1001) + "ab"),
                     "cluster response session 5: message of 1001 bytes is larger than "
                     "cluster_max_message (1000)",
                     l);
    // Two incomplete messages of 1000 bytes are more than max_pending.
    expect_malformed(frame(resp_head(5, kFlagMore, 1000)) + frame(resp_head(6, kFlagMore, 1000)),
                     "cluster response session 6: incomplete messages of more than 1500 bytes", l);
}

TEST(ClusterCodec, ItemsOfAFailedFeedAreDroppedAndResetClearsPartials) {
    Codec c{Limits{}};
    Items got;
    const std::string wire = frame(req_head(1, 0, 2) + kAddr + "ok") +
                             frame(resp_head(2, kFlagMore, 10) + "ab") + frame("\x7f");
    EXPECT_FALSE(c.feed(wire.data(), wire.size(), got.v));
    EXPECT_TRUE(got.v.empty());  // the completed request was freed with the failure
    EXPECT_EQ(c.pending_messages(), 1u);
    EXPECT_EQ(c.pending_bytes(), 10u);
    c.reset();
    EXPECT_EQ(c.pending_messages(), 0u);
    EXPECT_EQ(c.pending_bytes(), 0u);
}

TEST(ClusterCodec, FramerAndCodecEndToEndUnderRandomSplits) {
    Codec sender{small_parts(4000)};
    std::vector<std::string> sent;
    std::vector<Payload> frames;
    for (uint32_t s = 1; s <= 20; ++s) {
        sent.push_back(bytes(size_t(s) * s * 97, s));
        const std::string m = packed(int64_t(s), sent.back());
        ASSERT_TRUE(sender.request(s, false, m.data(), m.size(), frames));
    }
    const std::string wire = joined(frames);
    std::mt19937 rng(3);
    Framer f;
    Codec receiver{small_parts(4000)};
    Items got;
    for (size_t at = 0; at < wire.size();) {
        const size_t n = std::min<size_t>(wire.size() - at, 1 + rng() % 6000);
        ASSERT_TRUE(f.feed(wire.data() + at, n).ok());
        at += n;
        uint32_t count = 0;
        Payload p = f.take(&count);
        ASSERT_TRUE(receiver.feed(p.data(), p.size(), got.v)) << receiver.error();
    }
    ASSERT_EQ(got.v.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(got.v[i].handle, i + 1);
        EXPECT_EQ(got.data(i), sent[i]);
    }
}

// ---- assembly on the socket thread (Framer::assemble, Limits::assembled) ------------------

Limits assembling(uint32_t part) {
    Limits l = small_parts(part);
    l.assembled = true;
    return l;
}

// Feeds `wire` through an assembling framer (cut every `step` bytes) into `receiver`; -> the
// number of frames the framer handed over.
size_t assemble_through(const std::string& wire, size_t step, Codec& receiver, Items& got,
                        uint32_t max_message = kDefaultMaxMessage) {
    Framer f;
    f.assemble(max_message, 4ull * max_message);
    size_t handed = 0;
    for (size_t at = 0; at < wire.size(); at += step) {
        EXPECT_TRUE(f.feed(wire.data() + at, std::min(step, wire.size() - at)).ok());
        uint32_t count = 0;
        Payload p = f.take(&count);
        handed += count;
        EXPECT_TRUE(receiver.feed(p.data(), p.size(), got.v)) << receiver.error();
    }
    EXPECT_EQ(f.assembling(), 0u);
    return handed;
}

TEST(ClusterAssembly, SplitMessagesReachTheCodecWholeAndSmallOnesFirst) {
    Codec sender{small_parts(500)};
    const std::string a = bytes(2300, 1), r = bytes(1200, 3);
    std::vector<Payload> fa, fs, fr;
    const std::string ma = packed(".a", a), ms = packed("@s", "small");
    ASSERT_TRUE(sender.request(1, false, ma.data(), ma.size(), fa));
    ASSERT_TRUE(sender.request(3, true, ms.data(), ms.size(), fs));
    ASSERT_TRUE(sender.response(1, true, r.data(), r.size(), fr));
    std::string wire;
    for (size_t i = 0; i < 5; ++i) {
        if (i < fa.size()) wire.append(fa[i].view());
        if (i < fr.size()) wire.append(fr[i].view());
        if (i == 1) wire.append(fs[0].view());
    }
    for (size_t step : {size_t(1), size_t(7), size_t(499), size_t(100000)}) {
        Codec receiver{assembling(500)};
        Items got;
        // One frame each for the small push and the two messages: none of their 8 parts.
        EXPECT_EQ(assemble_through(wire, step, receiver, got), 3u) << step;
        ASSERT_EQ(got.v.size(), 3u);
        EXPECT_EQ(got.data(0), "small");
        EXPECT_EQ(got.v[1].kind, kResponse);
        EXPECT_EQ(got.v[1].flags, kFlagOk);
        EXPECT_EQ(got.v[1].session, 1u);
        EXPECT_EQ(got.data(1), r);
        EXPECT_EQ(got.v[2].kind, kRequest);
        EXPECT_EQ(got.v[2].name, ".a");
        EXPECT_EQ(got.data(2), a);
        EXPECT_EQ(receiver.pending_messages(), 0u);  // nothing was reassembled in the codec
    }
}

// Takes the answers of the sessions in `waiting` (once each), as a link's router does.
struct FakeRouter : AnswerRouter {
    std::set<uint32_t> waiting;
    std::vector<std::pair<uint32_t, std::string>> routed;
    uint64_t bytes = 0;
    bool route(uint32_t ls, const char* data, uint32_t size, uint32_t frame_bytes) override {
        if (!waiting.erase(ls)) return false;
        routed.emplace_back(ls, std::string(data, size));
        bytes += frame_bytes;
        return true;
    }
};

TEST(ClusterRouting, OneFrameAnswersOfWaitingCallsLeaveTheBatchTheRestStay) {
    Codec sender{small_parts(500)};
    std::vector<Payload> f;
    const std::string big = bytes(1200, 6), m = packed(".x", "req");
    ASSERT_TRUE(sender.response(5, true, "five", 4, f));           // routed
    ASSERT_TRUE(sender.response(6, true, "six", 3, f));            // not waiting: stays
    ASSERT_TRUE(sender.response(7, false, "boom", 4, f));          // an error: stays for the link
    ASSERT_TRUE(sender.request(5, false, m.data(), m.size(), f));  // a request: stays
    ASSERT_TRUE(sender.response(8, true, big.data(), big.size(), f));  // split: stays, assembled
    ASSERT_TRUE(sender.response(5, true, "again", 5, f));              // 5 answered already: stays
    ASSERT_TRUE(sender.response(9, true, nullptr, 0, f));              // empty answer: routed
    const std::string wire = joined(f);
    for (size_t step : {size_t(1), size_t(13), size_t(100000)}) {
        auto router = std::make_shared<FakeRouter>();
        router->waiting = {5, 7, 8, 9};
        Framer framer;
        framer.assemble(kDefaultMaxMessage, 4ull * kDefaultMaxMessage);
        framer.route_answers(router);
        Codec receiver{assembling(500)};
        Items got;
        for (size_t at = 0; at < wire.size(); at += step) {
            ASSERT_TRUE(framer.feed(wire.data() + at, std::min(step, wire.size() - at)).ok());
            uint32_t count = 0;
            Payload p = framer.take(&count);
            ASSERT_TRUE(receiver.feed(p.data(), p.size(), got.v)) << receiver.error();
        }
        ASSERT_EQ(router->routed.size(), 2u) << step;
        EXPECT_EQ(router->routed[0], std::make_pair(5u, std::string("five")));
        EXPECT_EQ(router->routed[1], std::make_pair(9u, std::string()));
        EXPECT_EQ(router->bytes, f[0].size() + f.back().size());
        EXPECT_EQ(router->waiting, (std::set<uint32_t>{7, 8}));  // the link answers those
        ASSERT_EQ(got.v.size(), 5u) << step;
        EXPECT_EQ(got.v[0].session, 6u);
        EXPECT_EQ(got.v[1].session, 7u);
        EXPECT_EQ(got.v[1].flags, 0u);
        EXPECT_EQ(got.v[2].kind, kRequest);
        EXPECT_EQ(got.v[3].session, 8u);
        EXPECT_EQ(got.data(3), big);
        EXPECT_EQ(got.data(4), "again");
    }
}

TEST(ClusterAssembly, MessagesAboveTheFramersLimitPassInPartsToTheCodec) {
    Codec sender{small_parts(500)};
    const std::string big = bytes(5000, 4), fits = bytes(900, 5);
    std::vector<Payload> frames;
    const std::string mb = packed(7, big), mf = packed(8, fits);
    ASSERT_TRUE(sender.request(1, false, mb.data(), mb.size(), frames));
    ASSERT_TRUE(sender.request(2, false, mf.data(), mf.size(), frames));
    Codec receiver{assembling(500)};
    Items got;
    // The 10 frames of the 5000-byte message pass as they are; the 900-byte one comes assembled.
    EXPECT_EQ(assemble_through(joined(frames), 333, receiver, got, 1000), 11u);
    ASSERT_EQ(got.v.size(), 2u);
    EXPECT_EQ(got.data(0), big);
    EXPECT_EQ(got.data(1), fits);
}

TEST(ClusterAssembly, BadPartsAreStreamErrorsAndAssembledFramesAreLocal) {
    auto fails = [](const std::string& wire, const std::string& text) {
        Framer f;
        f.assemble(1 << 20, 4 << 20);
        Result<void> r = f.feed(wire.data(), wire.size());
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_EQ(r.error().message, text);
    };
    const std::string first = frame(resp_head(5, kFlagMore, 4) + "ab");
    fails(first + frame(part_head(5, kFlagOfResponse) + "abc"),
          "cluster response session 5: parts exceed its total of 4 bytes");
    fails(first + frame(part_head(5, kFlagOfResponse) + "a"),
          "cluster response session 5: its last part leaves it 1 bytes short of 4");
    fails(first + first,
          "cluster response session 5: a new message while the previous one is "
          "incomplete");
    fails(frame(std::string("\x1f", 1) + std::string(20, '\0')),
          "cluster frame of kind 31: local only");
}

TEST(ClusterAssembly, WithoutAssemblyTheLocalKindIsUnknown) {
    Codec c{Limits{}};
    Items got;
    const std::string wire = frame(std::string("\x1f", 1) + std::string(20, '\0'));
    EXPECT_FALSE(c.feed(wire.data(), wire.size(), got.v));
    EXPECT_EQ(c.error(), "cluster frame at byte 0: unknown kind 31");
}

TEST(ClusterAssembly, AssembledDataIsFreedWhenItsPayloadIsNotFed) {
    // Under the sanitizers a leak here fails the test: discard and a failed feed free the data.
    Codec sender{small_parts(100)};
    const std::string d = bytes(1000, 6), m = packed(9, d);
    std::vector<Payload> frames;
    ASSERT_TRUE(sender.request(1, false, m.data(), m.size(), frames));
    ASSERT_TRUE(sender.request(2, false, m.data(), m.size(), frames));
    const std::string wire = joined(frames);
    for (bool bad_first : {false, true}) {
        Framer f;
        f.assemble(1 << 20, 4 << 20);
        ASSERT_TRUE(f.feed(wire.data(), wire.size()).ok());
        uint32_t count = 0;
        Payload p = f.take(&count);
        ASSERT_EQ(count, 2u);
        Codec receiver{assembling(100)};
        if (!bad_first) {
            receiver.discard(p.data(), p.size());
            continue;
        }
        // A stream error in the read that completed them: the framer, destroyed with the
        // socket, frees what it never handed over.
        {
            Framer broken;
            broken.assemble(1 << 20, 4 << 20);
            const std::string bad = wire + frame(std::string(1, char(kAssembled)));
            EXPECT_FALSE(broken.feed(bad.data(), bad.size()).ok());
        }
        // A bad frame before the two assembled ones: feed fails and frees them.
        std::string fed = frame("\x7f") + std::string(p.data(), p.size());
        Items got;
        EXPECT_FALSE(receiver.feed(fed.data(), fed.size(), got.v));
        EXPECT_TRUE(got.v.empty());
    }
}

TEST(ClusterCodec, LimitsAreChecked) {
    Limits l;
    EXPECT_EQ(Codec::check(l), "");
    l.part = l.max_frame - kMaxHeader + 1;
    EXPECT_EQ(Codec::check(l), "part must be from 1 to max_frame - 271 (261873)");
    l = Limits{};
    l.max_pending = l.max_message - 1;
    EXPECT_EQ(Codec::check(l), "max_pending must be at least max_message");
}

}  // namespace
}  // namespace skyhive::cluster
