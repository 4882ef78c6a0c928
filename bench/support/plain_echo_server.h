#pragma once

#include <thread>

namespace skyhive::bench {

// The reference: a plain single-threaded epoll echo server, the shape every C server starts
// from (level-triggered, one 64 KB read buffer, write back at once, queue only what the kernel
// refuses). Thread: construct and destroy on one thread; the server runs on its own.
class PlainEchoServer {
  public:
    PlainEchoServer();
    ~PlainEchoServer();
    PlainEchoServer(const PlainEchoServer&) = delete;
    PlainEchoServer& operator=(const PlainEchoServer&) = delete;

    int port() const { return port_; }

  private:
    void run();

    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    int stop_fd_ = -1;  // eventfd: destruction wakes the loop
    int port_ = 0;
    std::thread thread_;
};

}  // namespace skyhive::bench
