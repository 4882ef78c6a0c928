#include "core/log.h"

namespace skyhive {

const char* to_string(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "info";
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
    if (s == "debug") return LogLevel::debug;
    if (s == "info") return LogLevel::info;
    if (s == "warn" || s == "warning") return LogLevel::warn;
    if (s == "error") return LogLevel::error;
    return std::nullopt;
}

}  // namespace skyhive
