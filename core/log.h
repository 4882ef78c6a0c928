#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace skyhive {

enum class LogLevel : uint8_t { debug = 0, info = 1, warn = 2, error = 3 };

const char* to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view s);

}  // namespace skyhive
