#include "test/support/redis_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "redis/probe.h"

namespace skyhive::test {

Result<std::unique_ptr<RedisProcess>> RedisProcess::start(Options options) {
    std::unique_ptr<RedisProcess> p(new RedisProcess());
    p->options_ = std::move(options);
    char tmpl[] = "/tmp/skyhive-redis-XXXXXX";
    if (!::mkdtemp(tmpl)) return Error::from_errno("mkdtemp");
    p->dir_ = tmpl;
    for (int attempt = 0; attempt < 5; ++attempt) {
        p->port_ = p->options_.port ? p->options_.port : redis::free_loopback_port();
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
        if (options_.die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        const char* prog = options_.sentinel ? "redis-sentinel" : "redis-server";
        ::execlp(prog, prog, config_path_.c_str(), static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    pid_ = pid;
    auto ready = wait_ready();
    // wait_ready() reaps a server that exited and sets pid_ to -1: kill(-1) would signal every
    // process this user may signal.
    if (!ready && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    return ready;
}

Result<void> RedisProcess::wait_ready() {
    return redis::await_ping(port_, std::chrono::seconds(10), [this]() -> Result<void> {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return {};
        pid_ = -1;
        // The directory goes with this object: the log's end goes into the message. (A config
        // file error is printed on stderr instead.)
        std::string log;
        std::ifstream in(dir_ + "/server.log");
        for (std::string line; std::getline(in, line);)
            log = log.substr(log.size() > 600 ? log.size() - 600 : 0) + line + " | ";
        return Error{"redis process exited during start-up on port " + std::to_string(port_) +
                     (log.empty() ? " (no log; see its stderr)" : "; its log ends: " + log)};
    });
}

Result<std::string> RedisProcess::command(const std::string& inline_command) const {
    return redis::inline_command(port_, inline_command, std::chrono::seconds(2));
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
