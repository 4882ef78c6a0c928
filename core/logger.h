#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "core/log.h"
#include "core/module.h"

namespace skyhive {

// The logger service ("logger" module): writes one line per text message,
//   2026-11-27 13:12:40.123 [:0000000a] W text
// to the file named by its args (appending) or to stdout when args are empty.
//
// Protocol: type text, payload = the line. The level rides in the session, which is never
// positive for log records: 0 = info (what skynet.error sends), -1 debug, -2 info, -3 warn,
// -4 error. A system message with payload "reopen" reopens the file (log rotation on SIGHUP).
//
// Thread: a worker, like every module.
class LoggerModule final : public Module {
  public:
    ~LoggerModule() override;
    bool init(Service& self, std::string_view args) override;
    void on_message(Service& self, Message& msg) override;

    static int32_t session_for(LogLevel level) { return -1 - int32_t(level); }
    static LogLevel level_of(int32_t session);
    // The formatted line for a record, without the newline. Exposed for tests.
    static std::string format(uint32_t source, LogLevel level, std::string_view text);

  private:
    bool open();
    std::string path_;
    FILE* file_ = nullptr;
};

std::unique_ptr<Module> make_logger();

}  // namespace skyhive
