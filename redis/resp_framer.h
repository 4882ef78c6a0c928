#pragma once

#include <thread>

#include "net/framer.h"
#include "redis/resp_reader.h"

namespace skyhive::redis {

// The protocol-aware socket mode for Redis connections: the socket thread feeds it every read and
// delivers whole replies to the owning service, several per message when they arrive together.
// The payload of each delivery is the reply encoding of reply_codec.h (decode it with
// ReplyCursor, or in Lua with the skyhive.redis.codec module's decode).
//
// After feed() fails the connection must be dropped; take() still yields the replies that were
// complete before the malformed byte, so a caller may deliver those first.
//
// Thread: socket thread only (created anywhere, then owned by the socket).
class RespFramer final : public net::Framer {
  public:
    explicit RespFramer(RespLimits limits = {});
    ~RespFramer() override;

    // Error texts are RespReader::feed's; they name no peer, the owner adds host:port.
    Result<void> feed(const char* data, size_t n) override;
    // The payload starts with kHeadroom free bytes (leaves_headroom).
    Payload take(uint32_t* count) override;
    bool leaves_headroom() const override { return true; }

    const RespReader& reader() const { return reader_; }

  private:
    // Debug builds assert that one thread (whichever feeds first: the socket thread) does all
    // the feeding and taking.
    void check_thread();

    RespReader reader_;
    std::thread::id owner_;
};

}  // namespace skyhive::redis
