// The gate's framing (services/gate/packet_cutter.h) and its reading and writing of packed Lua
// arguments (services/gate/lua_args.h), without sockets.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "services/gate/lua_args.h"
#include "services/gate/packet_cutter.h"

namespace skyhive {
namespace {

std::string header2(const std::string& body) {
    std::string s;
    s.push_back(char(body.size() >> 8));
    s.push_back(char(body.size() & 0xff));
    return s + body;
}

// Feeds `stream` in pieces of `piece` bytes; the packets, or "ERROR: text" last on an error.
std::vector<std::string> cut(PacketMode mode, size_t max, const std::string& stream, size_t piece) {
    PacketCutter c(mode, max);
    std::vector<std::string> out;
    for (size_t at = 0; at < stream.size(); at += piece) {
        size_t n = std::min(piece, stream.size() - at);
        auto r = c.feed(stream.data() + at, n, [&](std::string_view p) { out.emplace_back(p); });
        if (!r) {
            out.push_back("ERROR: " + r.error().message);
            break;
        }
    }
    return out;
}

TEST(GatePacketCutter, Header2ManyPacketsInOneReadAndSplitAnywhere) {
    std::string big(70000 - 5000, 'x');
    big[0] = 'a';
    big.back() = 'z';
    const std::vector<std::string> packets = {"hello", "", std::string(1, '\0'), big, "end"};
    std::string stream;
    for (const auto& p : packets)
        stream += header2(p);
    // Every piece size from one byte (a header split in two) to the whole stream at once.
    for (size_t piece : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(4096), stream.size()}) {
        EXPECT_EQ(cut(PacketMode::header2, 0xffff, stream, piece), packets) << "piece " << piece;
    }
}

TEST(GatePacketCutter, Header2KeepsAnIncompleteTailUntilItCompletes) {
    PacketCutter c(PacketMode::header2, 0xffff);
    std::vector<std::string> out;
    auto sink = [&](std::string_view p) { out.emplace_back(p); };
    std::string s = header2("abcdef") + header2("gh");
    ASSERT_TRUE(c.feed(s.data(), 5, sink));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(c.pending(), 5u);
    ASSERT_TRUE(c.feed(s.data() + 5, s.size() - 5 - 1, sink));
    EXPECT_EQ(out, std::vector<std::string>{"abcdef"});
    ASSERT_TRUE(c.feed(s.data() + s.size() - 1, 1, sink));
    EXPECT_EQ(out, (std::vector<std::string>{"abcdef", "gh"}));
    EXPECT_EQ(c.pending(), 0u);
}

TEST(GatePacketCutter, Header2RefusesAPacketOverTheLimitAtItsHeader) {
    std::string stream = header2("ok") + header2(std::string(300, 'y'));
    // The limit is seen from the header alone: no need to buffer the oversized body.
    auto out = cut(PacketMode::header2, 256, stream.substr(0, 4 + 2), 1);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], "ok");
    EXPECT_EQ(out[1], "ERROR: packet of 300 bytes exceeds the limit of 256");
    out = cut(PacketMode::header2, 256, stream, stream.size());
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1], "ERROR: packet of 300 bytes exceeds the limit of 256");
    // The 2-byte header caps the limit at 65535.
    out = cut(PacketMode::header2, 1 << 20, header2(std::string(65535, 'q')), 1000);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].size(), 65535u);
}

TEST(GatePacketCutter, LinesWithCrLfOrLfSplitAnywhere) {
    const std::string stream = "look\r\nsay hi\n\r\n\nlast line\r\npartial";
    const std::vector<std::string> lines = {"look", "say hi", "", "", "last line"};
    for (size_t piece = 1; piece <= stream.size(); ++piece)
        EXPECT_EQ(cut(PacketMode::lines, 64, stream, piece), lines) << "piece " << piece;
    // A "\r" split from its "\n" by a read is still taken off.
    PacketCutter c(PacketMode::lines, 4);
    std::vector<std::string> out;
    auto sink = [&](std::string_view p) { out.emplace_back(p); };
    ASSERT_TRUE(c.feed("abcd\r", 5, sink));
    ASSERT_TRUE(c.feed("\n", 1, sink));
    EXPECT_EQ(out, std::vector<std::string>{"abcd"});
}

TEST(GatePacketCutter, LinesRefusesALineOverTheLimitBeforeItsEnd) {
    // Without a newline in sight the line is refused once it is too long, not buffered forever.
    auto out = cut(PacketMode::lines, 8, "ok\n" + std::string(100, 'x'), 3);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], "ok");
    EXPECT_EQ(out[1], "ERROR: line longer than 8 bytes");
    out = cut(PacketMode::lines, 8, "123456789\n", 100);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], "ERROR: line longer than 8 bytes");
    EXPECT_EQ(cut(PacketMode::lines, 8, "12345678\r\n", 1), std::vector<std::string>{"12345678"});
}

TEST(GatePacketCutter, LinesEndWithCrAloneOrCrNulAsTelnetClientsSend) {
    const char raw[] = "gold\rgold\r\0who\r\nx\n";
    const std::string stream(raw, sizeof raw - 1);  // the NUL inside counts; the last does not
    const std::vector<std::string> lines = {"gold", "gold", "who", "x"};
    for (size_t piece = 1; piece <= stream.size(); ++piece) {
        PacketCutter c(PacketMode::lines, 64);
        std::vector<std::string> out;
        for (size_t at = 0; at < stream.size(); at += piece)
            ASSERT_TRUE(c.feed(stream.data() + at, std::min(piece, stream.size() - at),
                               [&](std::string_view p) { out.emplace_back(p); }));
        EXPECT_EQ(out, lines) << "piece " << piece;
    }
}

TEST(GatePacketCutter, SkipLongCutsAnOverLongLineAndKeepsTheStreamUsable) {
    // Whole, or arriving in pieces before its end: one packet of max + 1 bytes, the rest dropped.
    for (size_t piece : {size_t(1), size_t(3), size_t(1000)}) {
        PacketCutter c(PacketMode::lines, 8, true);
        std::vector<std::string> out;
        const std::string stream = "ok\n" + std::string(30, 'x') + "\r\nnext\n";
        for (size_t at = 0; at < stream.size(); at += piece)
            ASSERT_TRUE(c.feed(stream.data() + at, std::min(piece, stream.size() - at),
                               [&](std::string_view p) { out.emplace_back(p); }));
        EXPECT_EQ(out, (std::vector<std::string>{"ok", std::string(9, 'x'), "next"}))
            << "piece " << piece;
    }
}

TEST(GateLuaArgs, RoundTripOfWhatTheGateSends) {
    LuaCodec codec;
    LuaPacker p(codec);
    p.string("socket").string("data").integer(7).integer(-3).integer(1 << 20).nil().string(
        std::string(300, 'b'));
    Payload bytes = p.take();
    auto args = codec.unpack(bytes.view());
    ASSERT_TRUE(args) << args.error().message;
    ASSERT_EQ(args->size(), 7u);
    EXPECT_EQ(*(*args)[0].value.string(), "socket");
    EXPECT_EQ(*(*args)[2].value.integer(), 7);
    EXPECT_EQ(*(*args)[3].value.integer(), -3);
    EXPECT_EQ(*(*args)[4].value.integer(), 1 << 20);
    EXPECT_TRUE((*args)[5].value.is_nil());
    EXPECT_EQ((*args)[6].value.string()->size(), 300u);
}

TEST(GateLuaArgs, WritesTheBytesSkynetPackWrites) {
    // skynet.pack("open", {port = 300}) as lualib/native/seri writes it (and the Lua side reads
    // it back): a fixstr, then a table of one hash pair.
    LuaCodec codec;
    LuaPacker p(codec);
    p.string("open").hash(1).string("port").integer(300);
    Payload bytes = p.take();
    EXPECT_EQ(bytes.view(), std::string_view("\x84open\xb1\x84port\xc4\x2c\x01", 14));
    // The packer is empty after take, ready for the next message; a table of 20 pairs and an
    // empty one are written whole.
    p.hash(20);
    for (int i = 0; i < 20; ++i)
        p.string("k" + std::to_string(i)).integer(i);
    p.hash(0).integer(5);
    auto args = codec.unpack(p.take().view());
    ASSERT_TRUE(args) << args.error().message;
    ASSERT_EQ(args->size(), 3u);
    EXPECT_EQ((*args)[0].fields.size(), 20u);
    EXPECT_EQ(*(*args)[0].fields.at("k19").integer(), 19);
    EXPECT_TRUE((*args)[1].is_table);
    EXPECT_EQ(*(*args)[2].value.integer(), 5);
}

TEST(GateLuaArgs, ReadsAConfTableAndRejectsWhatItDoesNotTake) {
    LuaCodec codec;
    // "open", {port = 300, nodelay = true, ratio = 2.0} as skynet.pack writes it: fixstr, fixhash
    // of 3 pairs; a float with an integer value reads as the integer.
    std::string b(
        "\x84open\xb3\x84port\xc4\x2c\x01\x87nodelay\xc2\x85ratio\xc7"
        "\x00\x00\x00\x00\x00\x00\x00\x40",
        38);
    auto args = codec.unpack(b);
    ASSERT_TRUE(args) << args.error().message;
    ASSERT_EQ(args->size(), 2u);
    ASSERT_TRUE((*args)[1].is_table);
    EXPECT_EQ(*(*args)[1].fields.at("port").integer(), 300);
    EXPECT_EQ(*(*args)[1].fields.at("nodelay").boolean(), true);
    EXPECT_EQ(*(*args)[1].fields.at("ratio").integer(), 2);

    auto truncated = codec.unpack("\x84op");
    ASSERT_FALSE(truncated);
    EXPECT_EQ(truncated.error().message.rfind("unpack: ", 0), 0u) << truncated.error().message;
    EXPECT_NE(truncated.error().message.find("at byte"), std::string::npos);

    // A nested table is named with its argument and field: the gate takes flat tables.
    LuaPacker p(codec);
    p.string("open").hash(2).string("port").integer(0).string("tls").hash(1).string("cert").string(
        "x");
    auto nested = codec.unpack(p.take().view());
    ASSERT_FALSE(nested);
    EXPECT_EQ(nested.error().message,
              "unpack: argument 2, field tls: a table inside a table (only flat tables are taken)");
    auto pointer = codec.unpack(std::string("\xc8\0\0\0\0\0\0\0\0", 9));
    ASSERT_FALSE(pointer);
    EXPECT_EQ(pointer.error().message,
              "unpack: argument 1: a userdata (only nil, booleans, integers, strings and flat "
              "tables are taken)");
    auto array = codec.unpack("\xa1\x01");  // {1}
    ASSERT_FALSE(array);
    EXPECT_EQ(array.error().message,
              "unpack: argument 1: a table key that is a number (only string keys are taken)");
    auto fraction = codec.unpack(std::string("\xc7\0\0\0\0\0\0\xf8\x3f", 9));  // 1.5
    ASSERT_FALSE(fraction);
    EXPECT_EQ(fraction.error().message, "unpack: argument 1: a float without an integer value");
}

}  // namespace
}  // namespace skyhive
