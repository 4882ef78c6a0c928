// libFuzzer target for RESP framing and reply decoding.
//
// Input: one byte that chooses how the stream is cut into feeds, then the stream. The target
// frames the stream twice, whole and cut into pieces, and aborts unless: nothing crashes, every
// payload is a well-formed reply encoding with the announced count, both runs yield the same
// replies and both fail or both succeed, and the Lua decoder turns every payload into exactly that
// many replies. Small limits let short inputs reach the limit checks. The same bytes, cut into
// arguments, must also encode as a command exactly as hiredis's formatter encodes it.

#include <lua.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <hiredis/hiredis.h>

#include <vector>

#include "lualib/native/redis_codec.h"
#include "redis/command.h"
#include "redis/resp_framer.h"

namespace {

using skyhive::redis::RespFramer;
using skyhive::redis::RespLimits;

constexpr RespLimits kLimits{.max_bulk = 256, .max_elements = 64};

struct Outcome {
    std::string frames;
    uint32_t count = 0;
    bool failed = false;
};

void check(bool ok) {
    if (!ok) std::abort();
}

template <class NextSize>
Outcome frame(std::string_view in, NextSize next_size) {
    RespFramer framer(kLimits);
    Outcome o;
    size_t pos = 0;
    while (pos < in.size() && !o.failed) {
        size_t n = std::min(next_size(), in.size() - pos);
        o.failed = !framer.feed(in.data() + pos, n).ok();
        pos += n;
        uint32_t count = 0;
        skyhive::Payload p = framer.take(&count);
        // The replies follow the zeroed headroom the socket thread writes its header into.
        std::string_view body;
        if (!p.empty()) {
            check(p.size() >= RespFramer::kHeadroom);
            for (size_t i = 0; i < RespFramer::kHeadroom; ++i)
                check(p.data()[i] == 0);
            body = p.view().substr(RespFramer::kHeadroom);
        }
        uint32_t counted = 0;
        check(skyhive::redis::validate_replies(body, &counted) && counted == count);
        o.frames.append(body);
        o.count += count;
    }
    return o;
}

int decode(lua_State* L) {
    size_t size;
    const char* data = lua_tolstring(L, 1, &size);
    lua_pushinteger(L, skyhive::redis_decode_buffer(L, data, size));
    return 1;
}

lua_State* lua() {
    static lua_State* L = [] {
        lua_State* s = luaL_newstate();
        luaL_requiref(s, "codec", luaopen_skyhive_redis_codec, 0);  // registers the metatables
        lua_settop(s, 0);
        return s;
    }();
    return L;
}

}  // namespace

// The input cut into arguments at each '|' (so empty and binary arguments occur), encoded by
// CommandBuffer and by hiredis's redisFormatSdsCommandArgv: the bytes must be equal.
void check_encoding(std::string_view in) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    size_t start = 0;
    for (size_t i = 0; i <= in.size(); ++i) {
        if (i == in.size() || in[i] == '|') {
            ptrs.push_back(in.data() + start);
            lens.push_back(i - start);
            start = i + 1;
        }
    }
    skyhive::redis::CommandBuffer buf;
    check(buf.append(int(ptrs.size()), ptrs.data(), lens.data()).ok());
    sds ref = nullptr;
    int n = redisFormatSdsCommandArgv(&ref, int(ptrs.size()), ptrs.data(), lens.data());
    check(n >= 0 && buf.view() == std::string_view(ref, size_t(n)));
    redisFreeSdsCommand(ref);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    uint32_t state = 0x9e3779b9u ^ data[0];
    uint32_t max_piece = 1u + data[0];
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    check_encoding(in);

    Outcome whole = frame(in, [&] { return in.size(); });
    Outcome cut = frame(in, [&] {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return size_t(1 + state % max_piece);
    });
    check(whole.failed == cut.failed);
    check(whole.count == cut.count);
    check(whole.frames == cut.frames);

    // The in-service path reads replies in place and drops them instead of taking payloads.
    skyhive::redis::RespReader reader(kLimits);
    std::string in_place;
    for (size_t pos = 0; pos < in.size(); pos += 3) {
        bool ok = reader.feed(in.data() + pos, std::min<size_t>(3, in.size() - pos)).ok();
        in_place.append(reader.complete());
        reader.drop_complete();
        if (!ok) break;
    }
    check(in_place == whole.frames);

    lua_State* L = lua();
    lua_pushcfunction(L, decode);
    lua_pushlstring(L, whole.frames.data(), whole.frames.size());
    check(lua_pcall(L, 1, 1, 0) == LUA_OK);
    check(lua_tointeger(L, -1) == lua_Integer(whole.count));
    lua_settop(L, 0);
    return 0;
}
