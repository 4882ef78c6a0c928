#include "test/integration/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace skyhive::test {

Process::Process(std::vector<std::string> argv, std::string output_path, std::string cwd)
    : output_path_(std::move(output_path)) {
    pid_ = ::fork();
    if (pid_ == 0) {
        int fd = ::open(output_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (::chdir(cwd.c_str()) != 0) std::_Exit(126);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::_Exit(127);
    }
}

Process::~Process() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void Process::signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (std::chrono::steady_clock::now() > deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
}

std::string Process::output() const {
    return read_file(output_path_);
}

bool Process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) const {
    return wait_until_file_contains(output_path_, text, timeout);
}

int Process::wait_for_port(const std::string& prefix, std::chrono::milliseconds timeout) {
    const std::string needle = prefix + "127.0.0.1:";
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string out = output();
        size_t at = out.find(needle);
        if (at != std::string::npos) {
            // Only a whole line: the digits must be followed by its end.
            size_t digits = at + needle.size();
            size_t end = out.find_first_not_of("0123456789", digits);
            if (end != std::string::npos && end > digits && out[end] == '\n')
                return std::stoi(out.substr(digits, end - digits));
        }
        // Exited (a bad config, a failed start): no point in waiting.
        if (std::chrono::steady_clock::now() > deadline || wait(std::chrono::milliseconds(0)) != -1)
            return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool wait_until_file_contains(const std::string& path, const std::string& text,
                              std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (read_file(path).find(text) != std::string::npos) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/skyhive-test-XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace skyhive::test
