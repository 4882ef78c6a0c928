// Black-box test of config/echo.lua and the start script: runs the skyhive binary on it (addresses
// moved to kernel-chosen ports, a debug console added), finds the bound ports in the log, and
// talks to the services with plain blocking sockets, as telnet would.
//
// Environment (set by ctest): SKYHIVE_BIN, the binary; SKYHIVE_SOURCE_DIR, the repository root
// (the binary runs there, so the configs' relative Lua paths resolve).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(20);

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The binary running one config, its output going to a file in a temporary directory.
class Node {
  public:
    // `config_text` is written to node.lua in the temporary directory.
    explicit Node(const std::string& config_text) {
        char tmpl[] = "/tmp/skyhive-echo-XXXXXX";
        EXPECT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::ofstream(dir_ + "/node.lua") << config_text;
        log_ = dir_ + "/out.log";
        pid_ = ::fork();
        if (pid_ == 0) {
            int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            if (::chdir(env("SKYHIVE_SOURCE_DIR").c_str()) != 0) std::_Exit(126);
            std::string bin = env("SKYHIVE_BIN");
            std::string config = dir_ + "/node.lua";
            ::execl(bin.c_str(), bin.c_str(), config.c_str(), nullptr);
            std::_Exit(127);
        }
    }
    ~Node() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::remove(log_.c_str());
        std::remove((dir_ + "/node.lua").c_str());
        ::rmdir(dir_.c_str());
    }

    // The port in the first log line containing `prefix` + "127.0.0.1:PORT", once it appears.
    std::optional<int> wait_port(const std::string& prefix) {
        const std::string needle = prefix + "127.0.0.1:";
        for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
            std::string text = slurp(log_);
            size_t at = text.find(needle);
            if (at != std::string::npos) {
                // Only a whole line: the digits must be followed by its end.
                size_t digits = at + needle.size();
                size_t end = text.find_first_not_of("0123456789", digits);
                if (end != std::string::npos && end > digits && text[end] == '\n')
                    return std::stoi(text.substr(digits, end - digits));
            }
            if (exited()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "no '" << prefix << "' line; output:\n" << slurp(log_);
        return std::nullopt;
    }

    // Sends SIGTERM and returns the exit status (-1 if it did not exit before the deadline).
    int stop() {
        ::kill(pid_, SIGTERM);
        return wait();
    }

    // Waits for the process to exit by itself; its status, or -1 after the deadline.
    int wait() {
        for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return -1;
    }

    std::string output() const { return slurp(log_); }

  private:
    bool exited() {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        pid_ = -1;
        return true;
    }

    std::string dir_;
    std::string log_;
    pid_t pid_ = -1;
};

// A blocking TCP client with a receive timeout.
class Client {
  public:
    explicit Client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Client() { ::close(fd_); }
    bool connected() const { return connected_; }

    bool send(const std::string& s) {
        size_t done = 0;
        while (done < s.size()) {
            ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += size_t(n);
        }
        return true;
    }
    // Exactly n bytes, or fewer if the peer closed or the timeout passed.
    std::string recv(size_t n) {
        std::string out;
        char buf[65536];
        while (out.size() < n) {
            ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
            if (r <= 0) break;
            out.append(buf, size_t(r));
        }
        return out;
    }
    // Reads until `marker` has been seen (or the peer closes / times out).
    std::string recv_until(const std::string& marker) {
        std::string out;
        char c;
        while (out.find(marker) == std::string::npos && ::recv(fd_, &c, 1, 0) == 1)
            out.push_back(c);
        return out;
    }
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  private:
    int fd_ = -1;
    bool connected_ = false;
};

std::string config_path(const char* name) {
    return env("SKYHIVE_SOURCE_DIR") + "/config/" + name;
}

TEST(EchoConfig, EchoesLinesFromSeveralClients) {
    Node node("include \"" + config_path("echo.lua") + "\"\necho = \"127.0.0.1:0\"\n");
    auto port = node.wait_port("echo: listening on ");
    ASSERT_TRUE(port);

    Client a(*port), b(*port);
    ASSERT_TRUE(a.connected());
    ASSERT_TRUE(b.connected());
    // A telnet line (CRLF) comes back unchanged.
    ASSERT_TRUE(a.send("hello\r\n"));
    EXPECT_EQ(a.recv(7), "hello\r\n");
    // A line written in pieces comes back once it is complete; clients do not mix.
    ASSERT_TRUE(b.send("sp"));
    ASSERT_TRUE(a.send("from a\n"));
    EXPECT_EQ(a.recv(7), "from a\n");
    ASSERT_TRUE(b.send("lit\n"));
    EXPECT_EQ(b.recv(6), "split\n");
    // Many lines at once, in order; binary bytes other than '\n' pass through.
    std::string many, expect;
    for (int i = 0; i < 2000; ++i) {
        std::string line = "line " + std::to_string(i) + " \x01\xff\r";
        many += line + "\n";
    }
    ASSERT_TRUE(a.send(many));
    EXPECT_EQ(a.recv(many.size()), many);
    // A line over 64 KB is not buffered whole nor echoed: one error line, then the next line.
    ASSERT_TRUE(a.send(std::string(200000, 'x') + "\nafter\n"));
    EXPECT_EQ(a.recv_until("after\n"), "line too long (over 65536 bytes)\nafter\n");
    // Half-close: what was complete is echoed, then the service closes its side.
    ASSERT_TRUE(b.send("last\nno newline"));
    b.shutdown_write();
    EXPECT_EQ(b.recv(100), "last\n");

    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST(EchoConfig, RunsTheConsoleTheConfigNames) {
    Node node("include \"" + config_path("echo.lua") +
              "\"\necho = \"127.0.0.1:0\"\ndebug_console = \"127.0.0.1:0\"\n");
    auto echo = node.wait_port("echo: listening on ");
    auto console = node.wait_port("debug console: listening on ");
    ASSERT_TRUE(echo && console);

    Client e(*echo);
    ASSERT_TRUE(e.send("ping\n"));
    EXPECT_EQ(e.recv(5), "ping\n");

    Client c(*console);
    std::string welcome = c.recv_until("\n");
    EXPECT_NE(welcome.find("skyhive"), std::string::npos) << welcome;
    ASSERT_TRUE(c.send("list\r\n"));
    std::string list = c.recv_until("<CMD OK>\n");
    EXPECT_NE(list.find("snlua echo 127.0.0.1 0"), std::string::npos) << list;
    EXPECT_NE(list.find("snlua debug_console 127.0.0.1 0"), std::string::npos) << list;

    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST(EchoConfig, ConsoleRefusesARemoteAddressUnlessAllowed) {
    Node node("include \"" + config_path("echo.lua") +
              "\"\necho = \"127.0.0.1:0\"\ndebug_console = \"0.0.0.0:0\"\n");
    // The start script fails, so the node stops by itself with a non-zero status.
    int status = node.wait();
    EXPECT_GT(status, 0);
    EXPECT_NE(node.output().find("debug_console_allow_remote"), std::string::npos) << node.output();
}

}  // namespace
