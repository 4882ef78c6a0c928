#include "test/integration/line_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace skyhive::test {

namespace {

int millis_until(LineClient::Clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - LineClient::Clock::now());
    return left.count() > 0 ? int(left.count()) : 0;
}

}  // namespace

LineClient::LineClient(int port, int receive_buffer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    if (receive_buffer > 0)
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close();
        return;
    }
    // Non-blocking from here on: every wait is a poll with the caller's deadline.
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

LineClient::~LineClient() {
    close();
}

void LineClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool LineClient::peer_gone() const {
    pollfd p{fd_, POLLRDHUP, 0};
    return fd_ < 0 || (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

std::string LineClient::address() const {
    sockaddr_in a{};
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

void LineClient::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

bool LineClient::send_some(const std::string& data, size_t& sent) {
    while (fd_ >= 0 && sent < data.size()) {
        ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += size_t(n);
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return fd_ >= 0;
}

bool LineClient::send(const std::string& data, Clock::time_point deadline) {
    size_t sent = 0;
    while (send_some(data, sent) && sent < data.size()) {
        if (Clock::now() >= deadline) return false;
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, millis_until(deadline));
    }
    return fd_ >= 0 && sent == data.size();
}

bool LineClient::fill(Clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, millis_until(deadline));
    if (ready <= 0) return ready < 0 && errno == EINTR && Clock::now() < deadline;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
        received_ += size_t(n);
        buffer_.append(buf, size_t(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        eof_ = true;  // a reset ends the stream as a close does
    }
    return true;
}

std::optional<std::string> LineClient::read_line(Clock::time_point deadline) {
    for (;;) {
        size_t nl = buffer_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (!fill(deadline)) return std::nullopt;
    }
}

std::vector<std::string> LineClient::read_until(const std::string& end,
                                                Clock::time_point deadline) {
    std::vector<std::string> lines;
    while (auto line = read_line(deadline)) {
        lines.push_back(*line);
        if (line->find(end) != std::string::npos) break;
    }
    return lines;
}

std::string LineClient::read_bytes(size_t n, Clock::time_point deadline) {
    while (buffer_.size() < n && fill(deadline)) {
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, out.size());
    return out;
}

std::optional<std::string> LineClient::read_some(Clock::time_point deadline) {
    while (buffer_.empty())
        if (!fill(deadline)) return std::nullopt;
    return std::exchange(buffer_, std::string());
}

bool LineClient::wait_eof(Clock::time_point deadline) {
    while (!eof_)
        if (!fill(deadline)) return eof_;
    return true;
}

}  // namespace skyhive::test
