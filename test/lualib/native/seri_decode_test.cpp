// seri.unpack and seri_decode against bad input: malformed and truncated messages, forged counts,
// random bytes, checked arguments, and a userdata read within its size.
#include "lualib/native/seri.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "test/lualib/native/random_value.h"
#include "test/lualib/native/seri_fixture.h"

namespace skyhive::test {
namespace {

TEST_F(SeriTest, MalformedInputRaisesAtTheRightByte) {
    struct Case {
        std::string bytes;
        std::string error;
    };
    const Case cases[] = {
        {std::string("\x01\xcd", 2), "unpack: reserved tag 0xcd at byte 1"},
        {std::string("\xc5\x01\x02", 3), "unpack: truncated number at byte 0"},
        {std::string("\x85"
                     "abc",
                     4),
         "unpack: string length exceeds the message at byte 0"},
        {std::string("\xcb\xff\xff\xff\x7f", 5), "unpack: string length exceeds the message"},
        {std::string("\xa3\x01\x02", 3), "unpack: table size exceeds the message at byte 0"},
        {std::string("\xcc\x80\x80\x80\x80\x08\x00\x00", 8), "unpack: table size exceeds"},
        {std::string("\xcc\x80", 2), "unpack: truncated table header at byte 0"},
        {std::string("\xcc\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02\x00", 12),
         "unpack: table count overflows 64 bits"},
        {std::string("\xb1\xc0\x01", 3), "unpack: nil table key at byte 1"},
        {std::string("\xb1\xc7\x00\x00\x00\x00\x00\x00\xf8\x7f\x01", 11),
         "unpack: NaN table key at byte 1"},
        // The inner table's 3 entries fit the bytes left, but not beside the outer table's second.
        {std::string("\xa2\xa3\x01\x02\x03", 5),
         "unpack: table size exceeds the message at byte 1"},
    };
    for (const auto& c : cases) {
        int count = 0;
        std::string error = unpack(c.bytes, &count);
        EXPECT_NE(error.find(c.error), std::string::npos) << "got '" << error << "'";
        EXPECT_EQ(decode(c.bytes, &count), error);  // the raising and returning paths agree
    }
    // 33 nested one-element arrays around a 0.
    std::string deep(33, '\xa1');
    deep += '\x00';
    int count = 0;
    EXPECT_NE(unpack(deep, &count).find("unpack: table nested deeper than 32 at byte 32"),
              std::string::npos);
    EXPECT_EQ(unpack(deep.substr(1), &count), "");
}

TEST_F(SeriTest, ForgedCountsDoNotAllocateBeyondTheMessage) {
    // Each of 32 nested tables claims as many entries as bytes remain: a decoder that trusted each
    // count alone would pre-size 32 tables of ~1000 slots.
    std::string bytes;
    for (int i = 0; i < 31; ++i)
        bytes += std::string("\xcc\xe8\x07\x00", 4);  // 1000 array slots
    bytes += std::string(1000, '\x00');
    size_t before = memory.live;
    int count = 0;
    std::string error = unpack(bytes, &count);
    EXPECT_NE(error.find("table size exceeds the message"), std::string::npos) << error;
    EXPECT_LT(memory.peak - before, 64u * 1024) << "forged counts pre-sized tables";
}

TEST_F(SeriTest, UnpackArgumentsAreChecked) {
    EXPECT_NE(run("seri.unpack({})").find("userdata or string expected"), std::string::npos);
    EXPECT_NE(run("local p = seri.pack(1) seri.trash(p) seri.unpack(p, -1)").find("negative size"),
              std::string::npos);
    EXPECT_NE(
        run("local p = seri.pack(1) local ok, e = pcall(seri.unpack, p) seri.trash(p) error(e)")
            .find("number expected"),
        std::string::npos);
    EXPECT_NE(run("seri.trash(1)").find("lightuserdata or string expected"), std::string::npos);
}

TEST_F(SeriTest, FullUserdataIsReadWithinItsSize) {
    lua_pushinteger(L, 7);
    lua_pushstring(L, "seven");
    std::string bytes = packstring(lua_gettop(L) - 1, 2);
    lua_settop(L, 0);
    auto* block = static_cast<char*>(lua_newuserdatauv(L, bytes.size() + 3, 0));
    std::memcpy(block, bytes.data(), bytes.size());
    lua_setglobal(L, "block");
    EXPECT_EQ(run("local n, s = seri.unpack(block, " + std::to_string(bytes.size()) +
                  ") assert(n == 7 and s == 'seven')"),
              "");
    std::string error = run("seri.unpack(block, " + std::to_string(bytes.size() + 4) + ")");
    EXPECT_NE(error.find("unpack: size 11 outside the userdata's 10 bytes"), std::string::npos)
        << error;
}

TEST_F(SeriTest, EveryTruncationIsRejected) {
    RandomValue random(77);
    for (int round = 0; round < 150; ++round) {
        // One value: no proper prefix of its encoding is a whole value.
        random.push(L, 3);
        std::string bytes = packstring(lua_gettop(L), 1);
        lua_pop(L, 1);
        if (bytes.size() > 4096) bytes.resize(0);  // keep the quadratic loop fast
        for (size_t len = 1; len < bytes.size(); ++len) {
            int count = 0;
            std::string error = decode(bytes.substr(0, len), &count);
            ASSERT_EQ(error.rfind("unpack: ", 0), 0u)
                << "prefix " << len << " of " << bytes.size() << " accepted";
        }
    }
}

TEST_F(SeriTest, RandomBytesAreRejectedOrRoundTrip) {
    RandomValue random(4242);
    const char tags[] =
        "\x00\x05\x7f\x80\x83\x9f\xa0\xa2\xaf\xb0\xb2\xbf\xc0\xc1\xc2\xc3\xc4"
        "\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xe0\xff";
    int decoded = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string bytes(random.below(24), '\0');
        for (auto& c : bytes) {
            c = random.below(2) == 0 ? tags[random.below(sizeof tags - 1)] : char(random.below(8));
        }
        int count = 0;
        std::string error = decode(bytes, &count);
        if (!error.empty()) {
            ASSERT_EQ(error.rfind("unpack: ", 0), 0u) << error;
            continue;
        }
        ++decoded;
        expect_round_trip(count, "random bytes round " + std::to_string(round));
        if (HasFatalFailure()) return;
    }
    EXPECT_GT(decoded, 1000);  // the generator reaches the decoder's success paths too
}

}  // namespace
}  // namespace skyhive::test
