#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#include "core/handle.h"
#include "core/message.h"
#include "core/node.h"
#include "net/socket_event.h"
#include "net/socket_server.h"

namespace skyhive::net::test {

using namespace std::chrono_literals;

// Generous: sanitizer builds on a loaded 2-core machine are slow, and a deadline only matters
// when a test is already failing.
inline constexpr auto kDeadline = 30s;

// One delivered socket event, decoded.
struct Event {
    SocketEvent header{};
    std::string bytes;  // everything after the header
    Payload payload;    // the original message payload

    SocketEventType type() const { return header.type; }
    int32_t id() const { return header.id; }
    int32_t ud() const { return header.ud; }
};

// A MessageSink standing in for the node: keeps every handle's events in its own queue. Every
// handle is alive until kill(). Thread: any.
class EventSink : public MessageSink {
  public:
    bool deliver(Handle dest, Message msg) override;
    // False once kill(h) was called.
    bool alive(Handle h) const override;

    // The next event for h, or nullopt after `timeout`.
    std::optional<Event> next(Handle h, std::chrono::milliseconds timeout = kDeadline);
    // Skips events until one of `type` arrives for h (the skipped ones are dropped); nullopt after
    // `timeout`.
    std::optional<Event> next_of(Handle h, SocketEventType type,
                                 std::chrono::milliseconds timeout = kDeadline);
    // Waits until h's queue holds no event for `quiet` (to check that nothing arrives).
    bool none_within(Handle h, std::chrono::milliseconds quiet);
    // Events waiting in h's queue.
    size_t queued(Handle h) const;
    // From now on deliveries to h fail, as for a service that has exited.
    void kill(Handle h);
    size_t delivered() const;

  private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<uint32_t, std::deque<Message>> queues_;
    std::set<uint32_t> dead_;
    size_t delivered_ = 0;
};

// A service on its own thread, echoing every byte back on every socket it is given: starts
// accepted sockets, sends each data event's payload back as-is, closes on EOF. Stops on
// destruction.
class EchoService {
  public:
    EchoService(SocketServer& server, EventSink& sink, Handle self);
    ~EchoService();
    EchoService(const EchoService&) = delete;
    EchoService& operator=(const EchoService&) = delete;

    size_t accepted() const { return accepted_.load(); }

  private:
    void run();
    SocketServer& server_;
    EventSink& sink_;
    Handle self_;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> accepted_{0};
    std::thread thread_;
};

// Polls `done` every millisecond until it holds or the deadline passes; returns its last value.
template <class F>
bool wait_until(F&& done, std::chrono::milliseconds timeout = kDeadline) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return done();
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// ---- plain client sockets (blocking unless said otherwise) ----

// Connects to 127.0.0.1:port; -1 on failure.
int connect_local(int port);
// A port nothing listens on: bound by a socket that is then closed.
int closed_port();
bool write_all(int fd, const void* data, size_t n);
// Reads exactly n bytes, or fails at the deadline or EOF.
bool read_exact(int fd, void* out, size_t n, std::chrono::milliseconds timeout = kDeadline);
// Reads until EOF (or error/deadline); returns the byte count and, when `out` is given, the bytes.
size_t read_to_eof(int fd, std::string* out = nullptr,
                   std::chrono::milliseconds timeout = kDeadline);
void set_nonblocking(int fd);
// SO_LINGER {1, 0}: close() sends a reset instead of FIN.
void set_reset_on_close(int fd);

// A deterministic byte stream: byte `offset` of stream `seed`.
inline uint8_t pattern(uint64_t seed, uint64_t offset) {
    uint64_t x = (offset + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    x ^= x >> 29;
    return uint8_t(x);
}
void fill_pattern(uint64_t seed, uint64_t offset, char* out, size_t n);
// Offset of the first byte differing from the pattern, or n when all match.
size_t check_pattern(uint64_t seed, uint64_t offset, const char* data, size_t n);

// A Node with two workers that logs errors only, for a service on a real node.
NodeOptions quiet_node_options();
// Starts node and server (the server stops with the node) and launches one service of module;
// its handle goes to *launched. Fails the test (ASSERT) when any step does.
void start_node_and_server(Node& node, SocketServer& server, const char* module,
                           Handle* launched = nullptr);

}  // namespace skyhive::net::test
