#pragma once

// Helpers for the tests of services/: a temporary directory and a one-line Redis client.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "test/support/redis_process.h"  // free_port()

namespace skyhive::test {

// A fresh directory under /tmp, removed with the object. Thread: the owner.
class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/skyhive-local-redis-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// One inline command to 127.0.0.1:port; the first reply line, or "" without an answer.
inline std::string command(int port, const std::string& line) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, (line + "\r\n").data(), line.size() + 2, MSG_NOSIGNAL) > 0) {
        char buf[512];
        while (reply.find("\r\n") == std::string::npos) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            reply.append(buf, size_t(n));
        }
    }
    ::close(fd);
    return reply.substr(0, reply.find("\r\n"));
}

}  // namespace skyhive::test
