#include "services/local_redis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace skyhive {

namespace {

namespace fs = std::filesystem;

bool is_off(const std::string& v) {
    return v.empty() || v == "false";
}

// The program's path: as given when it contains a '/', else the first executable on PATH.
Result<std::string> find_program(const std::string& program) {
    if (program.find('/') != std::string::npos) {
        if (::access(program.c_str(), X_OK) == 0) return program;
        return Error::from_errno("local redis: " + program);
    }
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return Error{"local redis: " + program +
                 " not found on PATH (install the redis-server package: bash scripts/setup.sh, "
                 "or set redis = \"host:port\" in the config)"};
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

// True when something on 127.0.0.1:port answers PING with +PONG within a short timeout.
bool answers_ping(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    timeval tv{0, 500000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
        char buf[16];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        ok = n >= 5 && std::memcmp(buf, "+PONG", 5) == 0;
    }
    ::close(fd);
    return ok;
}

// The last non-empty line of the server's log, which says why it stopped.
std::string last_log_line(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last;
}

}  // namespace

Result<std::optional<LocalRedis::Options>> LocalRedis::from_config(const Config& config) {
    auto dir = config.get("local_redis");
    if (!dir || is_off(*dir)) return std::optional<Options>();
    for (const char* key : {"redis", "redis_sentinels"})
        if (auto v = config.get(key); v && !is_off(*v)) return std::optional<Options>();
    auto port = config.get_int("local_redis_port", 0, 0, 65535);
    if (!port) return port.error();
    Options o;
    o.dir = *dir;
    o.port = int(port.value());
    return std::optional<Options>(std::move(o));
}

Result<std::unique_ptr<LocalRedis>> LocalRedis::start(Options options) {
    auto program = find_program(options.program);
    if (!program) return program.error();
    std::error_code ec;
    fs::create_directories(options.dir, ec);
    if (ec) return Error{"local redis: data directory " + options.dir + ": " + ec.message()};
    std::unique_ptr<LocalRedis> r(new LocalRedis());
    r->dir_ = fs::absolute(options.dir, ec).lexically_normal().string();
    if (!r->dir_.empty() && r->dir_.size() > 1 && r->dir_.back() == '/') r->dir_.pop_back();
    // A port of our own choosing can be taken between the probe and the server's bind: try again.
    for (int attempt = 0;; ++attempt) {
        r->port_ = options.port ? options.port : free_port();
        auto launched = r->launch(program.value(), options.ready_timeout);
        if (launched) return r;
        if (options.port || attempt == 3) return launched.error();
    }
}

Result<void> LocalRedis::launch(const std::string& program,
                                std::chrono::milliseconds ready_timeout) {
    if (answers_ping(port_))
        return Error{"local redis: 127.0.0.1:" + std::to_string(port_) +
                     " is already taken by a running Redis (another node's? set redis = "
                     "\"127.0.0.1:" +
                     std::to_string(port_) + "\" to use it)"};
    const std::string log = dir_ + "/redis.log";
    const std::string port = std::to_string(port_);
    // Built before fork: the child may only make async-signal-safe calls.
    std::vector<std::string> args = {
        program, "--port",      port, "--bind",           "127.0.0.1", "--dir",
        dir_,    "--logfile",   log,  "--appendonly",     "yes",       "--save",
        "",      "--daemonize", "no", "--protected-mode", "yes"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    sigset_t none;
    sigemptyset(&none);

    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno("local redis: fork");
    if (pid == 0) {
        // Its own process group: a Ctrl-C in the terminal reaches the node, which saves the
        // players while Redis still runs, and stops Redis afterwards.
        ::setpgid(0, 0);
        // Stopped with the node even when the node is killed (kill -9).
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(1);
        // The node blocks these for its signal thread; a blocked mask survives exec.
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::close_range(3, ~0U, 0);
        int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + ready_timeout;
    for (;;) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            std::string why = last_log_line(log);
            return Error{"local redis: " + program + " exited during start-up on 127.0.0.1:" +
                         port + (why.empty() ? "" : ": " + why) + " (log: " + log + ")"};
        }
        if (answers_ping(port_)) return {};
        if (std::chrono::steady_clock::now() > deadline) {
            stop();
            return Error{"local redis: 127.0.0.1:" + port + " did not answer PING within " +
                         std::to_string(ready_timeout.count()) + " ms (log: " + log + ")"};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string LocalRedis::stop() {
    if (pid_ <= 0) return "not running";
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
            return "killed after 10 s";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    return std::string("signal ") + strsignal(WTERMSIG(status));
}

LocalRedis::~LocalRedis() {
    stop();
}

}  // namespace skyhive
