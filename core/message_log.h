#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "core/message.h"
#include "core/result.h"

namespace skyhive {

// One service's message log (skynet's logon): a text file with one line per message the service
// receives, "<seconds since node start> :<source> <type> <session> <bytes> <payload in hex>",
// after a header line naming the service. The file is bounded: the write that would take it past
// `limit` bytes writes a last line saying so instead, and the log is finished.
//
// Thread: one at a time (the owner serialises: Service's watch lock).
class MessageLog {
  public:
    // Opens `path` for appending and writes the header. `what` names the service in it. Refused
    // when the file is already (nearly) at `limit`.
    static Result<std::unique_ptr<MessageLog>> open(const std::string& path, uint64_t limit,
                                                    const std::string& what);
    ~MessageLog();
    MessageLog(const MessageLog&) = delete;
    MessageLog& operator=(const MessageLog&) = delete;

    // Appends the line of `m`. Returns false when the limit was reached by this write: the file
    // then ends with a line saying so and later writes are ignored.
    bool write(const Message& m, uint64_t now_cs);
    const std::string& path() const { return path_; }
    uint64_t limit() const { return limit_; }

  private:
    MessageLog(std::FILE* f, std::string path, uint64_t limit)
        : file_(f), path_(std::move(path)), limit_(limit) {}
    bool put(const std::string& line);

    std::FILE* file_;
    std::string path_;
    uint64_t limit_;
    uint64_t written_ = 0;
    bool full_ = false;
};

}  // namespace skyhive
