#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "net/command.h"

namespace skyhive::net {

// Resolves host names for connect() away from the socket thread, whose loop must never block on
// DNS. One thread, started on first use; each result goes back to the socket thread through
// `post` as a `resolved` command. Identity type.
class Resolver {
  public:
    // `post` is called on the resolver thread with a command owning a ResolveResult.
    explicit Resolver(std::function<void(const Command&)> post) : post_(std::move(post)) {}
    ~Resolver() { stop(); }
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Thread: socket thread.
    void submit(int32_t id, std::string host, int port);
    // Drops queued requests and joins the thread; a lookup in progress is waited for (the system
    // resolver cannot be interrupted). Thread: the SocketServer owner, after the socket thread
    // has stopped.
    void stop();

  private:
    struct Job {
        int32_t id;
        std::string host;
        int port;
    };
    void run();

    std::function<void(const Command&)> post_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace skyhive::net
