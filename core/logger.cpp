#include "core/logger.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "core/service.h"

namespace skyhive {

LoggerModule::~LoggerModule() {
    if (file_ && file_ != stdout) std::fclose(file_);
}

bool LoggerModule::open() {
    if (path_.empty()) {
        file_ = stdout;
        return true;
    }
    FILE* f = std::fopen(path_.c_str(), "a");
    if (!f) {
        std::fprintf(stderr, "logger: cannot open '%s': %s\n", path_.c_str(), std::strerror(errno));
        return false;
    }
    if (file_ && file_ != stdout) std::fclose(file_);
    file_ = f;
    return true;
}

bool LoggerModule::init(Service&, std::string_view args) {
    path_ = std::string(args);
    return open();
}

LogLevel LoggerModule::level_of(int32_t session) {
    if (session >= 0 || session < -4) return LogLevel::info;
    return LogLevel(-1 - session);
}

std::string LoggerModule::format(uint32_t source, LogLevel level, std::string_view text) {
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t secs = system_clock::to_time_t(now);
    int ms = int(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
    std::tm tm;
    localtime_r(&secs, &tm);
    char head[64];
    std::snprintf(head, sizeof head, "%04d-%02d-%02d %02d:%02d:%02d.%03d [:%08x] %c ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  ms, source, "DIWE"[int(level) & 3]);
    std::string line(head);
    line.append(text);
    return line;
}

void LoggerModule::on_message(Service&, Message& msg) {
    if (msg.type == MessageType::system) {
        if (msg.payload.view() == "reopen") open();
        return;
    }
    std::string line = format(msg.source.value, level_of(msg.session), msg.payload.view());
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
}

std::unique_ptr<Module> make_logger() {
    return std::make_unique<LoggerModule>();
}

}  // namespace skyhive
