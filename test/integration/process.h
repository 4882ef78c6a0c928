#pragma once

// A child process for black-box tests: the skyhive binary with a config, its output captured in a
// file the test can poll.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace skyhive::test {

// Thread: one owner thread (wait() reaps the child; output() may be read from any thread).
class Process {
  public:
    // Starts `argv` with stdout and stderr appended to `output_path`, in `cwd`.
    Process(std::vector<std::string> argv, std::string output_path, std::string cwd = ".");
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    void signal(int sig);
    // Waits for the exit; returns the exit status, 128 + signal, or -1 on timeout.
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Everything the process printed so far.
    std::string output() const;
    // Polls the output until it contains `text`.
    bool wait_for_output(const std::string& text,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
    // Polls the output for a whole line "...<prefix>127.0.0.1:<port>" and returns the port of the
    // first; 0 when the process exits or the timeout passes first.
    int wait_for_port(const std::string& prefix,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

  private:
    pid_t pid_ = -1;
    std::string output_path_;
};

// A fresh temporary directory, removed with the object. Thread: one owner thread.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    void write(const std::string& name, const std::string& text) const;

  private:
    std::string path_;
};

std::string read_file(const std::string& path);
// Polls a file until it contains `text`.
bool wait_until_file_contains(const std::string& path, const std::string& text,
                              std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace skyhive::test
