#include "test/support/control_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace skyhive::test {

int listen_any(int* port, int backlog) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, backlog) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the peer is gone; the read side notices
        off += size_t(n);
    }
}

bool parse_request(std::string& in, std::vector<std::string>& argv) {
    argv.clear();
    size_t pos = 0;
    auto line = [&](std::string& out) {
        size_t e = in.find("\r\n", pos);
        if (e == std::string::npos) return false;
        out = in.substr(pos, e - pos);
        pos = e + 2;
        return true;
    };
    std::string head;
    if (!line(head)) return false;
    if (head.empty() || head[0] != '*') {  // an inline command: words separated by spaces
        size_t start = 0;
        while (start < head.size()) {
            size_t sp = head.find(' ', start);
            if (sp == std::string::npos) sp = head.size();
            if (sp > start) argv.push_back(head.substr(start, sp - start));
            start = sp + 1;
        }
        in.erase(0, pos);
        return true;
    }
    long count = std::strtol(head.c_str() + 1, nullptr, 10);
    for (long i = 0; i < count; ++i) {
        std::string bulk;
        if (!line(bulk)) return false;
        size_t len = size_t(std::strtol(bulk.c_str() + 1, nullptr, 10));
        if (in.size() < pos + len + 2) return false;
        argv.push_back(in.substr(pos, len));
        pos += len + 2;
    }
    in.erase(0, pos);
    return true;
}

std::string upper(std::string s) {
    for (char& c : s)
        c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string error_reply(std::string text) {
    for (char& c : text)
        if (c == '\r' || c == '\n') c = ' ';
    return "-ERR " + text + "\r\n";
}

std::string ok_or_error(const Result<void>& r, const std::string& prefix) {
    return r ? "+OK\r\n" : error_reply(prefix + r.error().message);
}

std::string integer_reply(long long v) {
    return ":" + std::to_string(v) + "\r\n";
}

}  // namespace skyhive::test
