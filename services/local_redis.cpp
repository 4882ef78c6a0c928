#include "services/local_redis.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "redis/probe.h"

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

// How a child ended, from its wait status: "exit code 0", "killed by signal 9 (Killed)".
std::string describe(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    return "wait status " + std::to_string(status);
}

long long ms(std::chrono::milliseconds d) {
    return static_cast<long long>(d.count());
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
    for (const char* key : {"redis", "redis_sentinels", "redis_cluster"})
        if (auto v = config.get(key); v && !is_off(*v)) return std::optional<Options>();
    auto port = config.get_int("local_redis_port", 0, 0, 65535);
    if (!port) return port.error();
    Options o;
    o.dir = *dir;
    o.port = int(port.value());
    if (auto fsync = config.get("local_redis_fsync")) {
        if (*fsync != "always" && *fsync != "everysec")
            return config.invalid("local_redis_fsync",
                                  "must be \"always\" or \"everysec\", not \"" + *fsync + "\"");
        o.appendfsync = *fsync;
    }
    return std::optional<Options>(std::move(o));
}

LocalRedis::LocalRedis(Options options, Log log)
    : options_(std::move(options)), log_(std::move(log)) {}

Result<std::unique_ptr<LocalRedis>> LocalRedis::start(Options options, Log log) {
    auto program = find_program(options.program);
    if (!program) return program.error();
    std::error_code ec;
    fs::create_directories(options.dir, ec);
    if (ec)
        return Error{"local redis: data directory '" + options.dir +
                     "' (config key local_redis): " + ec.message()};
    std::unique_ptr<LocalRedis> r(new LocalRedis(std::move(options), std::move(log)));
    r->owner_ = std::this_thread::get_id();
    r->program_ = program.value();
    r->dir_ = fs::absolute(r->options_.dir, ec).lexically_normal().string();
    if (!r->dir_.empty() && r->dir_.size() > 1 && r->dir_.back() == '/') r->dir_.pop_back();
    // A port of our own choosing can be taken between the probe and the server's bind: try again.
    for (int attempt = 0;; ++attempt) {
        r->port_ = r->options_.port ? r->options_.port : redis::free_loopback_port();
        auto launched = r->launch();
        if (launched) break;
        if (r->options_.port || attempt == 3) return launched.error();
    }
    r->supervisor_ = std::thread([self = r.get()] { self->supervise(); });
    return r;
}

Result<void> LocalRedis::launch() {
    if (redis::answers_ping(port_))
        return Error{"local redis: 127.0.0.1:" + std::to_string(port_) +
                     " is already taken by a running Redis (another node's? set redis = "
                     "\"127.0.0.1:" +
                     std::to_string(port_) + "\" to use it)"};
    const std::string log = dir_ + "/redis.log";
    const std::string port = std::to_string(port_);
    // appendfsync always (the default): the append-only file is written and fsynced before a
    // write is acknowledged, so what the game acknowledged survives a kill of this server (and of
    // the machine). everysec may postpone the write itself, after the reply, while the previous
    // second's fsync is still running (docs/architecture.md).
    // Built before fork: the child may only make async-signal-safe calls.
    std::vector<std::string> args = {program_,
                                     "--port",
                                     port,
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_,
                                     "--logfile",
                                     log,
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     options_.appendfsync,
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no",
                                     "--protected-mode",
                                     "yes"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    sigset_t none;
    sigemptyset(&none);

    {
        std::lock_guard lock(mutex_);
        if (stopping_) return Error{"local redis: stopping"};
        pid_t pid = ::fork();
        if (pid < 0) return Error::from_errno("local redis: fork");
        if (pid == 0) {
            // Its own process group: a Ctrl-C in the terminal reaches the node, which saves the
            // players while Redis still runs, and stops Redis afterwards.
            ::setpgid(0, 0);
            // Stopped with the node even when the node is killed (kill -9). The signal follows
            // the forking thread, which lives until the server is reaped (start's caller for the
            // first server, the supervisor for restarts).
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
    }
    auto ready = redis::await_ping(port_, options_.ready_timeout, [&]() -> Result<void> {
        if (try_reap()) {
            std::string why = last_log_line(log);
            return Error{"local redis: " + program_ + " exited during start-up on 127.0.0.1:" +
                         port + (why.empty() ? "" : ": " + why) + " (log: " + log + ")"};
        }
        std::lock_guard lock(mutex_);
        // stop() signalled the child; the supervisor reaps it.
        if (stopping_) return Error{"local redis: stopping"};
        return {};
    });
    if (ready) return {};
    bool timed_out = false;
    {
        std::lock_guard lock(mutex_);
        if (pid_ > 0 && !stopping_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
            timed_out = true;
        }
    }
    if (!timed_out) return ready.error();
    return Error{"local redis: " + ready.error().message + " (log: " + log + ")"};
}

std::optional<int> LocalRedis::try_reap() {
    std::lock_guard lock(mutex_);
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    pid_ = -1;
    how_ended_ = describe(status);
    return status;
}

void LocalRedis::supervise() {
    using Clock = std::chrono::steady_clock;
    auto backoff = options_.backoff_min;
    auto up_since = Clock::now();
    for (;;) {
        pid_t pid;
        {
            std::lock_guard lock(mutex_);
            pid = pid_;
        }
        // Waits for the death without reaping: the zombie keeps the pid from being reused until
        // it is reaped below, under the mutex that stop() holds while it signals pid_.
        siginfo_t info{};
        while (pid > 0 && ::waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 &&
               errno == EINTR) {
        }
        std::string how;
        {
            std::lock_guard lock(mutex_);
            if (pid_ > 0) {
                int status = 0;
                ::waitpid(pid_, &status, 0);
                how_ended_ = how = describe(status);
                pid_ = -1;
            }
            if (stopping_) {
                finished_ = true;
                changed_.notify_all();
                return;
            }
        }
        if (Clock::now() - up_since >= options_.stable_after) backoff = options_.backoff_min;
        report(LogLevel::error, "local redis-server (pid " + std::to_string(pid) + ") died: " +
                                    how + "; restarting in " + std::to_string(ms(backoff)) + " ms");
        for (int attempt = 1;; ++attempt) {
            {
                std::unique_lock lock(mutex_);
                if (changed_.wait_for(lock, backoff, [this] { return stopping_; })) break;
            }
            backoff = std::min(backoff * 2, options_.backoff_max);
            auto launched = launch();
            if (launched) {
                int restarts;
                pid_t now;
                {
                    std::lock_guard lock(mutex_);
                    restarts = ++restarts_;
                    now = pid_;
                }
                report(LogLevel::info, "restarted local redis-server on " + address() + " (pid " +
                                           std::to_string(now) + ", restart #" +
                                           std::to_string(restarts) + ", data in " + dir_ + ")");
                up_since = Clock::now();
                break;
            }
            {
                std::lock_guard lock(mutex_);
                if (stopping_) break;
            }
            report(LogLevel::error, "local redis-server restart #" + std::to_string(attempt) +
                                        " failed: " + launched.error().message + "; retrying in " +
                                        std::to_string(ms(backoff)) + " ms");
        }
    }
}

void LocalRedis::report(LogLevel level, const std::string& text) const {
    if (log_) log_(level, text);
}

pid_t LocalRedis::pid() const {
    std::lock_guard lock(mutex_);
    return pid_;
}

int LocalRedis::restarts() const {
    std::lock_guard lock(mutex_);
    return restarts_;
}

std::string LocalRedis::stop() {
    assert(std::this_thread::get_id() == owner_ && "LocalRedis::stop: not the owner thread");
    std::unique_lock lock(mutex_);
    if (stopping_) return how_ended_.empty() ? "not running" : how_ended_;
    stopping_ = true;
    changed_.notify_all();
    if (!supervisor_.joinable()) return "not running";
    bool had_server = pid_ > 0;
    if (had_server) ::kill(pid_, SIGTERM);
    if (!changed_.wait_for(lock, std::chrono::seconds(10), [this] { return finished_; })) {
        if (pid_ > 0) ::kill(pid_, SIGKILL);
        changed_.wait(lock, [this] { return finished_; });
        how_ended_ = "killed after 10 s";
    }
    lock.unlock();
    supervisor_.join();
    std::lock_guard relock(mutex_);
    if (!had_server) how_ended_ = "not running";
    return how_ended_;
}

LocalRedis::~LocalRedis() {
    stop();
}

}  // namespace skyhive
