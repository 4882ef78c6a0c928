#include "test/support/node_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>

namespace skyhive::test {

namespace {

int decode_status(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool port_accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(uint16_t(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

long file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? long(st.st_size) : 0;
}

}  // namespace

NodeProcess::~NodeProcess() {
    if (running()) (void)kill();
}

Result<void> NodeProcess::start() {
    if (running())
        return Error{"node " + name() + " is already running (pid " + std::to_string(pid_) + ")"};
    if (auto launched = launch(); !launched) return launched;
    auto ready = wait_ready();
    if (!ready && running()) (void)kill();
    return ready;
}

Result<void> NodeProcess::launch() {
    int log = ::open(options_.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) return Error::from_errno("node " + name() + ": open " + options_.log_path);
    log_offset_ = file_size(options_.log_path);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(log);
        return Error::from_errno("node " + name() + ": fork");
    }
    if (pid == 0) {
        // The owner is single-threaded, so setenv after fork is safe here.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) std::_Exit(127);  // the owner died before prctl took effect
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) ::dup2(null, 0);
        ::dup2(log, 1);
        ::dup2(log, 2);
        ::signal(SIGPIPE, SIG_DFL);
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::setenv("SKYHIVE_TEST_NODE_NAME", options_.name.c_str(), 1);
        ::setenv("SKYHIVE_TEST_NODE_PORT", std::to_string(options_.port).c_str(), 1);
        for (const auto& [k, v] : options_.env)
            ::setenv(k.c_str(), v.c_str(), 1);
        ::execl(options_.binary.c_str(), options_.binary.c_str(), options_.config.c_str(),
                static_cast<char*>(nullptr));
        std::fprintf(stderr, "with_nodes: exec %s: %s\n", options_.binary.c_str(),
                     std::strerror(errno));
        std::_Exit(127);
    }
    ::close(log);
    pid_ = pid;
    stopped_ = false;
    pidfd_ = int(::syscall(SYS_pidfd_open, pid,
                           0));  // -1 on an old kernel: the owner then polls with a timeout
    return {};
}

Result<void> NodeProcess::wait_ready() {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + options_.ready_timeout;
    bool by_port = options_.ready == "port";
    std::string text = by_port ? "" : options_.ready.substr(4);
    for (;;) {
        if (reap())
            return Error{"node " + name() + " exited with status " + std::to_string(exit_status_) +
                         " during start-up; its log ends:\n" + tail(20)};
        if (by_port ? port_accepts(options_.port) : [&] {
                std::ifstream in(options_.log_path);
                in.seekg(log_offset_);
                for (std::string line; std::getline(in, line);)
                    if (line.find(text) != std::string::npos) return true;
                return false;
            }())
            return {};
        if (clock::now() >= deadline)
            return Error{"node " + name() + " not ready after " +
                         std::to_string(options_.ready_timeout.count()) + " ms (" +
                         (by_port ? "port " + std::to_string(options_.port) + " refuses"
                                  : "no log line with '" + text + "'") +
                         "); its log ends:\n" + tail(20)};
        // Wakes at once if the node exits; otherwise checks again in 10 ms.
        pollfd p{pidfd_, POLLIN, 0};
        ::poll(&p, pidfd_ >= 0 ? 1 : 0, 10);
    }
}

void NodeProcess::exited(int status) {
    exit_status_ = decode_status(status);
    pid_ = -1;
    stopped_ = false;
    if (pidfd_ >= 0) ::close(pidfd_);
    pidfd_ = -1;
}

bool NodeProcess::reap() {
    if (!running()) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exited(status);
    return true;
}

Result<void> NodeProcess::not_running() const {
    return Error{"node " + name() + " is not running (last exit status " +
                 std::to_string(exit_status_) + ")"};
}

Result<void> NodeProcess::kill() {
    if (!running()) return not_running();
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited(status);
    return {};
}

Result<void> NodeProcess::pause() {
    if (!running()) return not_running();
    ::kill(pid_, SIGSTOP);
    int status = 0;
    while (::waitpid(pid_, &status, WUNTRACED) < 0 && errno == EINTR) {
    }
    if (WIFSTOPPED(status)) {
        stopped_ = true;
        return {};
    }
    exited(status);
    return not_running();
}

Result<void> NodeProcess::resume() {
    if (!running()) return not_running();
    ::kill(pid_, SIGCONT);
    int status = 0;
    while (::waitpid(pid_, &status, WCONTINUED) < 0 && errno == EINTR) {
    }
    if (WIFCONTINUED(status)) {
        stopped_ = false;
        return {};
    }
    exited(status);
    return not_running();
}

Result<void> NodeProcess::terminate(std::chrono::milliseconds grace) {
    if (!running()) return not_running();
    if (stopped_) (void)resume();
    if (!running()) return {};
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (!reap()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            (void)kill();
            return Error{"node " + name() + " still running " + std::to_string(grace.count()) +
                         " ms after SIGTERM: killed"};
        }
        pollfd p{pidfd_, POLLIN, 0};
        ::poll(&p, pidfd_ >= 0 ? 1 : 0, pidfd_ >= 0 ? int(left.count()) : 10);
    }
    return {};
}

std::string NodeProcess::tail(int lines) const {
    std::ifstream in(options_.log_path);
    std::deque<std::string> last;
    for (std::string line; std::getline(in, line);) {
        last.push_back(std::move(line));
        if (int(last.size()) > lines) last.pop_front();
    }
    std::string out;
    for (const auto& l : last)
        out += "  " + l + "\n";
    return out;
}

}  // namespace skyhive::test
