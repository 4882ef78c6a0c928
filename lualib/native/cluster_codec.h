#pragma once

// The wire format of node-to-node links (skynet.cluster), with no Lua in it: the "cluster" framer
// that cuts a link's byte stream on the socket thread, and the codec that turns packed messages
// into frames and frames back into messages. lualib/native/cluster_core.cpp binds the codec for
// Lua (skynet.cluster.core).
//
// Frame: u32 big-endian body length L (1 <= L <= max_frame), then L body bytes. Body byte 0 is
// the kind; every integer field is big-endian.
//   1..15    control (handshake, ping...): the rest of the body is opaque here
//   16 REQUEST   u32 session | u8 flags (bit0 push: no answer, bit1 more parts follow) |
//                u32 total data bytes | address | data part
//   17 RESPONSE  u32 session | u8 flags (bit0 ok, bit1 more parts follow) | u32 total | data part
//   18 PART      u32 session | u8 flags (bit0 of a response, bit1 more parts follow) | data part
//   address: u8 0, u32 handle | u8 1, u8 length (1..255), name bytes (".name", "@name")
// A message's parts are keyed by (direction, session): parts of different messages may
// interleave on the link, so that a small message overtakes a large one.

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/message.h"
#include "core/result.h"
#include "net/framer.h"

namespace skyhive::cluster {

inline constexpr uint8_t kMaxControl = 15;
inline constexpr uint8_t kRequest = 16;
inline constexpr uint8_t kResponse = 17;
inline constexpr uint8_t kPart = 18;

inline constexpr uint8_t kFlagPush = 1;        // REQUEST: no answer expected
inline constexpr uint8_t kFlagOk = 1;          // RESPONSE: not an error
inline constexpr uint8_t kFlagOfResponse = 1;  // PART: belongs to a response
inline constexpr uint8_t kFlagMore = 2;        // more parts follow

inline constexpr uint32_t kDefaultMaxFrame = 262144;
inline constexpr uint32_t kDefaultMaxMessage = 16u << 20;
inline constexpr uint32_t kDefaultPart = 65536;
// The largest header a frame carries before its data part (a REQUEST naming a 255-byte name).
inline constexpr uint32_t kMaxHeader = 4 + 1 + 4 + 1 + 4 + 2 + 255;

// Cuts a link's stream into whole frames. The payload it delivers is the completed frames back to
// back, exactly as they were on the wire (length prefixes included). A length of 0 or above
// max_frame is a stream error, reported as soon as the 4 length bytes are in.
// Thread: socket thread only (created anywhere, then owned by the socket).
class Framer final : public net::Framer {
  public:
    explicit Framer(uint32_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}
    ~Framer() override;
    Framer(const Framer&) = delete;
    Framer& operator=(const Framer&) = delete;

    Result<void> feed(const char* data, size_t n) override;
    Payload take(uint32_t* count) override;

  private:
    bool reserve(size_t need);

    uint32_t max_frame_;
    char* buf_ = nullptr;  // malloc'd; [0, complete_) whole frames, then the incomplete one
    size_t size_ = 0;
    size_t cap_ = 0;
    size_t complete_ = 0;
    uint32_t count_ = 0;
    bool failed_ = false;
};

struct Limits {
    uint32_t max_message = kDefaultMaxMessage;         // the largest packed message either way
    uint32_t part = kDefaultPart;                      // data bytes per frame
    uint32_t max_frame = kDefaultMaxFrame;             // must hold part + kMaxHeader
    uint64_t max_pending = 4ull * kDefaultMaxMessage;  // bytes of incomplete incoming messages
};

// A message completed by Codec::feed, or a control frame.
struct Item {
    uint8_t kind = 0;      // kRequest, kResponse, or a control kind (1..15)
    uint8_t flags = 0;     // the first frame's flags without kFlagMore
    uint32_t session = 0;  // 0 for a control frame
    bool by_name = false;  // REQUEST: the address is `name`, else `handle`
    uint32_t handle = 0;
    std::string name;
    // REQUEST / RESPONSE: the data, malloc'd (null when empty); whoever takes the item owns it.
    // Control: the body after the kind byte, borrowed from the fed bytes.
    char* data = nullptr;
    uint32_t size = 0;
};

// One link's codec: encodes outgoing messages into frames and reassembles incoming ones. After an
// error from feed the link must be dropped (reset() makes the codec usable again).
// Thread: one thread at a time (the service that owns the link).
class Codec {
  public:
    explicit Codec(Limits limits) : limits_(limits) {}
    ~Codec();
    Codec(const Codec&) = delete;
    Codec& operator=(const Codec&) = delete;

    // Checks limits: an error text, or empty when they are usable.
    static std::string check(const Limits& limits);

    // `msg` is skynet.pack(address, ...): the first packed value is the address (an integer
    // handle or a string name), the rest is the call's data. Appends the frames to `frames`
    // (one when the data fits in a part). False with error() on a message above max_message or
    // an address that is neither; nothing is appended then. `msg` is only read.
    bool request(uint32_t session, bool push, const char* msg, size_t sz,
                 std::vector<Payload>& frames);
    // `msg` is the answer's data (packed return values, or an error text).
    bool response(uint32_t session, bool ok, const char* msg, size_t sz,
                  std::vector<Payload>& frames);

    // Consumes frames back to back (the framer's payload). Appends every completed message and
    // control frame to `out`, in wire order. False with error() on a malformed frame; the items
    // this call produced are then freed and removed from `out`.
    bool feed(const char* data, size_t n, std::vector<Item>& out);

    // Drops every incomplete incoming message.
    void reset();

    const std::string& error() const { return error_; }
    size_t pending_messages() const { return partial_.size(); }
    uint64_t pending_bytes() const { return pending_bytes_; }
    const Limits& limits() const { return limits_; }

  private:
    struct Partial {
        Item item;  // data: malloc'd to the total size
        uint32_t total = 0;
        uint32_t got = 0;
    };

    bool fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    bool encode(uint8_t kind, uint32_t session, uint8_t flags, const char* addr, size_t addr_len,
                const char* data, size_t size, std::vector<Payload>& frames);
    bool first_frame(uint8_t kind, const uint8_t* p, size_t len, size_t at, std::vector<Item>& out);
    bool part_frame(const uint8_t* p, size_t len, size_t at, std::vector<Item>& out);
    bool add_data(Partial& part, const uint8_t* p, size_t len, bool more, std::vector<Item>& out,
                  uint64_t key);

    Limits limits_;
    std::unordered_map<uint64_t, Partial> partial_;  // key: direction << 32 | session
    uint64_t pending_bytes_ = 0;
    std::string error_;
};

// skynet.pack's encoding of one integer (out: 9 bytes) or one string (out: len + 5 bytes), in
// its shortest form. -> bytes written.
size_t pack_integer(int64_t v, char* out);
size_t pack_string(const char* s, size_t len, char* out);

}  // namespace skyhive::cluster
