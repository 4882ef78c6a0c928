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
//
// Assembly (optional, Framer::assemble and Limits::assembled, set together by a link): the framer
// puts a split message's parts together on the socket thread as they arrive, so the link is
// handed the message once, whole, and small frames never wait behind its parts. The framer then
// delivers it as a local frame that never travels on the wire (a peer sending its kind is a
// stream error):
//   31 ASSEMBLED  the first frame's body from its kind byte through the address, flags without
//                 "more parts", then the data: a pointer (8 bytes, this process's byte order) to
//                 a malloc'd block of exactly `total` bytes, owned by whoever takes the frame

#include <cstddef>
#include <cstdint>
#include <memory>
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
inline constexpr uint8_t kAssembled = 31;  // local only: see "Assembly" above

inline constexpr uint8_t kFlagPush = 1;        // REQUEST: no answer expected
inline constexpr uint8_t kFlagOk = 1;          // RESPONSE: not an error
inline constexpr uint8_t kFlagOfResponse = 1;  // PART: belongs to a response
inline constexpr uint8_t kFlagMore = 2;        // more parts follow

inline constexpr uint32_t kDefaultMaxFrame = 262144;
inline constexpr uint32_t kDefaultMaxMessage = 16u << 20;
inline constexpr uint32_t kDefaultPart = 65536;
// The largest header a frame carries before its data part (a REQUEST naming a 255-byte name).
inline constexpr uint32_t kMaxHeader = 4 + 1 + 4 + 1 + 4 + 2 + 255;

// Where a framer hands answers (RESPONSE frames) straight to their callers on the socket thread
// (cluster_router.h). Thread: route is called on the socket thread.
class AnswerRouter {
  public:
    virtual ~AnswerRouter() = default;
    // The whole answer (not an error) of link session ls (data: size bytes, borrowed;
    // frame_bytes: the frame on the wire). True when it was delivered: the frame is then dropped
    // from the batch.
    virtual bool route(uint32_t ls, const char* data, uint32_t size, uint32_t frame_bytes) = 0;
};

// Cuts a link's stream into whole frames. The payload it delivers is the completed frames back to
// back, exactly as they were on the wire (length prefixes included). A length of 0 or above
// max_frame is a stream error, reported as soon as the 4 length bytes are in.
// Thread: socket thread only (created anywhere, then owned by the socket).
// With assemble() the parts of split messages are put together here (see "Assembly" above); a
// part beyond its message's total, a last part short of it, a second first frame of a message
// being assembled and an ASSEMBLED frame from the peer are stream errors then. Frames it does not
// take (control, whole messages, anything malformed) pass as they are, for the codec to judge.
class Framer final : public net::Framer {
  public:
    explicit Framer(uint32_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}
    ~Framer() override;
    Framer(const Framer&) = delete;
    Framer& operator=(const Framer&) = delete;

    // Assembles split messages of up to max_message bytes while those incomplete hold at most
    // max_pending bytes (a message past either passes in parts). Thread: before the first feed.
    void assemble(uint32_t max_message, uint64_t max_pending);
    // Offers every answer that arrives in one frame (a RESPONSE without parts, not an error:
    // those stay with the link, which counts them) to `router` before batching it; only with
    // assemble(). Thread: before the first feed.
    void route_answers(std::shared_ptr<AnswerRouter> router) { router_ = std::move(router); }

    Result<void> feed(const char* data, size_t n) override;
    Payload take(uint32_t* count) override;

    size_t assembling() const { return assembling_.size(); }

  private:
    struct Assembly {
        char* data = nullptr;  // malloc'd, `total` bytes
        uint32_t total = 0;
        uint32_t got = 0;
        uint32_t head_len = 0;  // the first frame's body up to its data part
        char head[kMaxHeader];
    };
    enum class Taken { no, absorbed, completed };

    bool reserve(size_t need);
    // The whole frame at body (len bytes) was an answer `router_` delivered.
    bool routed(const uint8_t* body, size_t len);
    // Looks at the whole frame whose body is `body` (len bytes): a first frame or part of a split
    // message is taken into its assembly; the last part completes it (the local frame is then in
    // `local_`).
    Result<Taken> take_part(const uint8_t* body, size_t len);
    Result<void> cut(size_t len);

    uint32_t max_frame_;
    std::shared_ptr<AnswerRouter> router_;  // shared with the link's service (cluster_router.h)
    uint32_t assemble_max_ = 0;             // 0: no assembly
    uint64_t max_pending_ = 0;
    uint64_t pending_bytes_ = 0;
    std::unordered_map<uint64_t, Assembly> assembling_;  // key: direction << 32 | session
    char local_[4 + 1 + kMaxHeader + 8];
    size_t local_len_ = 0;
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
    // The fed bytes come from a Framer with assemble(): ASSEMBLED frames are taken (their data
    // pointers trusted). Off, such a frame is an unknown kind like any other.
    bool assembled = false;
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
    // Frees the data of every ASSEMBLED frame in a framer's payload that will not be fed (its
    // connection is gone). Does nothing unless limits().assembled.
    void discard(const char* data, size_t n);

    // Drops every incomplete incoming message.
    void reset();

    const std::string& error() const { return error_; }
    size_t pending_messages() const { return partial_.size(); }
    uint64_t pending_bytes() const { return pending_bytes_; }
    const Limits& limits() const { return limits_; }
    // New limits for what is encoded and fed from now on (e.g. a reloaded configuration; an
    // outgoing codec, which holds no incomplete message).
    void set_limits(const Limits& limits) { limits_ = limits; }

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
    bool assembled_frame(const uint8_t* p, size_t len, size_t at, std::vector<Item>& out);
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
