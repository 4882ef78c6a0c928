#include "test/support/redis_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace skyhive::test {

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

Result<std::unique_ptr<RedisProcess>> RedisProcess::start(Options options) {
    std::unique_ptr<RedisProcess> p(new RedisProcess());
    p->options_ = std::move(options);
    char tmpl[] = "/tmp/skyhive-redis-XXXXXX";
    if (!::mkdtemp(tmpl)) return Error::from_errno("mkdtemp");
    p->dir_ = tmpl;
    for (int attempt = 0; attempt < 5; ++attempt) {
        p->port_ = p->options_.port ? p->options_.port : free_port();
        auto launched = p->launch();
        if (launched) return p;
        if (p->options_.port || attempt == 4) return launched.error();
    }
    return Error{"unreachable"};
}

Result<void> RedisProcess::launch() {
    config_path_ = dir_ + (options_.sentinel ? "/sentinel.conf" : "/redis.conf");
    {
        std::ofstream conf(config_path_);
        conf << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir_ << "\nlogfile " << dir_
             << "/server.log\nsave \"\"\nprotected-mode no\n";
        for (const auto& line : options_.config)
            conf << line << "\n";
    }
    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno("fork");
    if (pid == 0) {
        const char* prog = options_.sentinel ? "redis-sentinel" : "redis-server";
        ::execlp(prog, prog, config_path_.c_str(), static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    pid_ = pid;
    auto ready = wait_ready();
    if (!ready) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    return ready;
}

Result<void> RedisProcess::wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return Error{"redis process exited during start-up on port " + std::to_string(port_) +
                         " (see " + dir_ + "/server.log)"};
        }
        auto reply = command("PING");
        if (reply && reply.value().rfind("+PONG", 0) == 0) return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Error{"redis on port " + std::to_string(port_) + " did not answer PING within 10 s"};
}

Result<std::string> RedisProcess::command(const std::string& inline_command) const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return Error::from_errno("socket");
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        auto e = Error::from_errno("connect " + address());
        ::close(fd);
        return e;
    }
    std::string line = inline_command + "\r\n";
    if (::write(fd, line.data(), line.size()) != ssize_t(line.size())) {
        ::close(fd);
        return Error::from_errno("write " + address());
    }
    std::string reply;
    char buf[4096];
    while (reply.find("\r\n") == std::string::npos) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
            ::close(fd);
            return Error{"no reply from " + address() + " to " + inline_command};
        }
        reply.append(buf, size_t(n));
    }
    ::close(fd);
    return reply.substr(0, reply.find("\r\n"));
}

void RedisProcess::signal(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (sig == SIGKILL || sig == SIGTERM) {
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
}

void RedisProcess::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);  // a stopped process cannot handle SIGTERM
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    signal(SIGKILL);
}

Result<void> RedisProcess::restart() {
    stop();
    return launch();
}

RedisProcess::~RedisProcess() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace skyhive::test
