#include "core/config.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace skyhive {
namespace {

// "an integer between 1 and 64", "an integer of at least 0", ...
std::string describe_range(int64_t min, int64_t max) {
    constexpr int64_t lo = std::numeric_limits<int64_t>::min();
    constexpr int64_t hi = std::numeric_limits<int64_t>::max();
    if (min == lo && max == hi) return "an integer";
    if (min == lo) return "an integer of at most " + std::to_string(max);
    if (max == hi) return "an integer of at least " + std::to_string(min);
    return "an integer between " + std::to_string(min) + " and " + std::to_string(max);
}

// Accepts "8" and also "8.0", which is what `thread = 16 / 2` leaves in a Lua config.
std::optional<int64_t> parse_int(const std::string& s) {
    const char* end = s.data() + s.size();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), end, v);
    if (ec == std::errc() && p == end) return v;
    double d = 0;
    auto [q, dec] = std::from_chars(s.data(), end, d);
    // 2^63 is exactly representable; anything at or past it does not fit.
    if (dec != std::errc() || q != end || !std::isfinite(d) || d != std::trunc(d) ||
        d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
        return std::nullopt;
    }
    return int64_t(d);
}

}  // namespace

std::optional<std::string> Config::get(std::string_view key) const {
    const Entry* e = entry(key);
    if (!e) return std::nullopt;
    return e->value;
}

const Config::Entry* Config::entry(std::string_view key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
}

Result<int64_t> Config::get_int(std::string_view key, int64_t def, int64_t min, int64_t max) const {
    const Entry* e = entry(key);
    if (!e) return def;
    std::optional<int64_t> v = parse_int(e->value);
    if (!v || *v < min || *v > max) {
        return invalid(key, "expected " + describe_range(min, max) + ", got '" + e->value + "'");
    }
    return *v;
}

Result<bool> Config::get_bool(std::string_view key, bool def) const {
    const Entry* e = entry(key);
    if (!e) return def;
    if (e->value == "true" || e->value == "1") return true;
    if (e->value == "false" || e->value == "0") return false;
    return invalid(key, "expected true or false, got '" + e->value + "'");
}

void Config::set(std::string key, std::string value, std::string file, int line) {
    entries_.insert_or_assign(std::move(key), Entry{std::move(value), std::move(file), line});
}

void Config::set(std::string key, std::string value) {
    set(std::move(key), std::move(value), "<override>", 0);
}

void Config::erase(std::string_view key) {
    if (auto it = entries_.find(key); it != entries_.end()) entries_.erase(it);
}

std::string Config::where(std::string_view key) const {
    const Entry* e = entry(key);
    if (!e) return {};
    return e->file + (e->line > 0 ? ":" + std::to_string(e->line) : std::string()) + ": ";
}

Error Config::invalid(std::string_view key, std::string_view what) const {
    return Error{where(key) + "key '" + std::string(key) + "': " + std::string(what)};
}

}  // namespace skyhive
