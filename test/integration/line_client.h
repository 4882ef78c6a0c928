#pragma once

// The one client socket of the black-box tests: a TCP connection to a loopback port that a test
// drives the way telnet, a player, a console user or a misbehaving client would. Every wait has a
// deadline, so a node that stops answering fails the test instead of hanging it.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace skyhive::test {

// Thread: one owner thread.
class LineClient {
  public:
    using Clock = std::chrono::steady_clock;
    // Generous: sanitizer builds on a loaded machine are slow, and a deadline only matters when a
    // test is already failing.
    static constexpr std::chrono::seconds kDeadline{15};

    // Connects to 127.0.0.1:port (connected() says whether it did). A receive_buffer above 0
    // shrinks the kernel's receive buffer first, so that what this client does not read piles up
    // on the peer's side.
    explicit LineClient(int port, int receive_buffer = 0);
    ~LineClient();
    LineClient(const LineClient&) = delete;
    LineClient& operator=(const LineClient&) = delete;

    bool connected() const { return fd_ >= 0; }
    // The peer's end of the stream has been read (what came before it is still readable).
    bool closed() const { return eof_; }
    // Without reading: the peer has closed or reset the connection.
    bool peer_gone() const;
    // "127.0.0.1:port" of this end, as the peer sees it.
    std::string address() const;
    void shutdown_write();
    void close();

    // Sends all of `data`, waiting while the peer does not read; false on an error or when the
    // deadline passes first.
    bool send(const std::string& data, Clock::time_point deadline = Clock::now() + kDeadline);
    // Sends what the kernel takes now from data[sent...], advancing `sent`; false on an error
    // (a full buffer is no error).
    bool send_some(const std::string& data, size_t& sent);

    // The next line, without its LF or CR LF; nullopt at the end of the stream or the deadline.
    std::optional<std::string> read_line(Clock::time_point deadline = Clock::now() + kDeadline);
    // Lines up to and including the first that contains `end`; fewer at the end of the stream or
    // the deadline.
    std::vector<std::string> read_until(const std::string& end,
                                        Clock::time_point deadline = Clock::now() + kDeadline);
    // Exactly n bytes; fewer at the end of the stream or the deadline.
    std::string read_bytes(size_t n, Clock::time_point deadline = Clock::now() + kDeadline);
    // What has arrived (waiting for at least one byte); nullopt at the end or the deadline.
    std::optional<std::string> read_some(Clock::time_point deadline = Clock::now() + kDeadline);
    // True once the peer's end of the stream has been read; what comes before it is kept.
    bool wait_eof(Clock::time_point deadline = Clock::now() + kDeadline);
    // Bytes received so far, read or not.
    size_t received() const { return received_; }

  private:
    // Waits for input and appends it to buffer_; false at the deadline.
    bool fill(Clock::time_point deadline);

    int fd_ = -1;
    bool eof_ = false;
    size_t received_ = 0;
    std::string buffer_;
};

}  // namespace skyhive::test
