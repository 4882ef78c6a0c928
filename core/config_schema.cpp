#include "core/config_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <tuple>
#include <vector>

namespace skyhive {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

bool is_name(std::string_view v) {
    return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), is_name_char);
}

// The items of a list separated by commas or spaces.
std::vector<std::string> split_list(std::string_view v) {
    std::vector<std::string> items;
    for (size_t i = 0; i < v.size();) {
        while (i < v.size() && is_space(v[i]))
            ++i;
        size_t end = i;
        while (end < v.size() && !is_space(v[end]))
            ++end;
        if (end > i) items.emplace_back(v.substr(i, end - i));
        i = end;
    }
    return items;
}

bool is_off(const std::string& v) {
    return v.empty() || v == "false";
}

// Accepts "8" and "8.0" (what `x = 16 / 2` leaves), as Config::get_int does.
bool parse_int(const std::string& s, int64_t& out) {
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    if (ec == std::errc() && p == end) return true;
    double d = 0;
    auto [q, dec] = std::from_chars(s.data(), end, d);
    if (dec != std::errc() || q != end || !std::isfinite(d) || d != std::trunc(d) ||
        d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    out = int64_t(d);
    return true;
}

std::string describe_range(int64_t min, int64_t max) {
    constexpr int64_t hi = std::numeric_limits<int64_t>::max();
    if (max == hi) return "an integer of at least " + std::to_string(min);
    return "an integer between " + std::to_string(min) + " and " + std::to_string(max);
}

// "host:port" or "[v6]:port": what the Lua services parse (`^%[?([^%]]-)%]?:(%d+)$`), with the
// port in range. "" when it fits, else what is wrong ("no port").
std::string check_address(std::string_view v) {
    size_t colon = v.rfind(':');
    if (colon == std::string_view::npos) return "no port";
    std::string_view host = v.substr(0, colon), port = v.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty()) return "no host";
    for (char c : host)
        if (c == '[' || c == ']' || c == ' ' || c == '\t') return "a bad host";
    unsigned n = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc() || p != port.data() + port.size())
        return "a port that is not a number";
    if (n > 65535) return "a port over 65535";
    return {};
}

// Edit distance with adjacent transpositions counted as one edit.
size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

std::string quoted(const std::string& v) {
    return "'" + v + "'";
}

}  // namespace

std::string address_problem(std::string_view v) {
    return check_address(v);
}

bool is_node_name(std::string_view v) {
    return is_name(v);
}

ConfigSchema& ConfigSchema::add(Key key) {
    std::string name = key.name;
    keys_.insert_or_assign(std::move(name), std::move(key));
    return *this;
}

namespace {
ConfigSchema::Key make(std::string name, ConfigSchema::Kind kind,
                       ConfigSchema::Off off = ConfigSchema::Off::no) {
    ConfigSchema::Key k;
    k.name = std::move(name);
    k.kind = kind;
    k.off = off == ConfigSchema::Off::allowed;
    return k;
}
}  // namespace

ConfigSchema& ConfigSchema::string(std::string name) {
    return add(make(std::move(name), Kind::string));
}

ConfigSchema& ConfigSchema::nonempty(std::string name) {
    return add(make(std::move(name), Kind::nonempty));
}

ConfigSchema& ConfigSchema::integer(std::string name, int64_t min, int64_t max) {
    Key k = make(std::move(name), Kind::integer);
    k.min = min;
    k.max = max;
    return add(std::move(k));
}

ConfigSchema& ConfigSchema::boolean(std::string name) {
    return add(make(std::move(name), Kind::boolean));
}

ConfigSchema& ConfigSchema::choice(std::string name, std::vector<std::string> choices) {
    Key k = make(std::move(name), Kind::choice);
    k.choices = std::move(choices);
    return add(std::move(k));
}

ConfigSchema& ConfigSchema::node_name(std::string name) {
    return add(make(std::move(name), Kind::name));
}

ConfigSchema& ConfigSchema::address(std::string name, Off off) {
    return add(make(std::move(name), Kind::address, off));
}

ConfigSchema& ConfigSchema::address_list(std::string name) {
    return add(make(std::move(name), Kind::address_list));
}

ConfigSchema& ConfigSchema::node_list(std::string name) {
    return add(make(std::move(name), Kind::node_list));
}

ConfigSchema& ConfigSchema::path(std::string name, Off off) {
    return add(make(std::move(name), Kind::path, off));
}

ConfigSchema& ConfigSchema::unsupported(std::string name, std::string why) {
    unsupported_.insert_or_assign(std::move(name), std::move(why));
    return *this;
}

ConfigSchema& ConfigSchema::required(std::string_view name, std::string what) {
    auto it = keys_.find(name);
    if (it == keys_.end()) {
        std::fprintf(stderr, "ConfigSchema::required: key '%.*s' is not declared\n",
                     int(name.size()), name.data());
        std::abort();
    }
    it->second.required = std::move(what);
    return *this;
}

const ConfigSchema::Key* ConfigSchema::find(std::string_view name) const {
    auto it = keys_.find(name);
    return it == keys_.end() ? nullptr : &it->second;
}

std::string ConfigSchema::nearest(std::string_view name) const {
    // Close enough to be a slip: one edit in a short name, up to three in a long one.
    const size_t limit = std::min<size_t>(3, std::max<size_t>(1, (name.size() + 2) / 3));
    std::string best;
    size_t best_d = limit + 1;
    for (const auto& [known, key] : keys_) {
        size_t d = distance(name, known);
        if (d < best_d) best_d = d, best = known;
    }
    return best;
}

std::string ConfigSchema::check(const Key& key, const std::string& v) {
    if (key.off && is_off(v)) return {};
    switch (key.kind) {
        case Kind::string:
            return {};
        case Kind::nonempty:
        case Kind::path:
            return v.empty() ? "must not be empty" : std::string();
        case Kind::integer: {
            int64_t n = 0;
            if (parse_int(v, n) && n >= key.min && n <= key.max) return {};
            return "expected " + describe_range(key.min, key.max) + ", got " + quoted(v);
        }
        case Kind::boolean:
            if (v == "true" || v == "false") return {};
            return "expected true or false, got " + quoted(v);
        case Kind::choice: {
            if (std::find(key.choices.begin(), key.choices.end(), v) != key.choices.end())
                return {};
            std::string list;
            for (size_t i = 0; i < key.choices.size(); ++i)
                list += (i == 0                        ? ""
                         : i + 1 == key.choices.size() ? " or "
                                                       : ", ") +
                        key.choices[i];
            return "expected " + list + ", got " + quoted(v);
        }
        case Kind::name:
            if (is_name(v)) return {};
            return "expected 1 to 64 letters, digits, '_' or '-', got " + quoted(v);
        case Kind::address: {
            std::string what = check_address(v);
            if (what.empty()) return {};
            return std::string("expected \"host:port\"") + (key.off ? " or false" : "") + ", got " +
                   quoted(v) + " (" + what + ")";
        }
        case Kind::address_list: {
            std::vector<std::string> items = split_list(v);
            if (items.empty()) return "expected a list of \"host:port\", got " + quoted(v);
            for (const std::string& item : items)
                if (std::string what = check_address(item); !what.empty())
                    return "expected a list of \"host:port\", item " + quoted(item) + " has " +
                           what;
            return {};
        }
        case Kind::node_list: {
            std::vector<std::string> items = split_list(v);
            const std::string expected = "expected a list of \"name=host:port\", ";
            if (items.empty()) return expected + "got " + quoted(v);
            std::set<std::string, std::less<>> names;
            for (const std::string& item : items) {
                size_t eq = item.find('=');
                if (eq == std::string::npos)
                    return expected + "entry " + quoted(item) + " has no '='";
                std::string name = item.substr(0, eq);
                if (!is_name(name))
                    return expected + "entry " + quoted(item) +
                           " has a name that is not 1 to 64 letters, digits, '_' or '-'";
                if (std::string what = check_address(std::string_view(item).substr(eq + 1));
                    !what.empty())
                    return expected + "entry " + quoted(item) + " has " + what;
                if (!names.insert(name).second)
                    return expected + "entry " + quoted(item) + " names " + quoted(name) +
                           " a second time";
            }
            return {};
        }
    }
    return {};
}

Result<void> ConfigSchema::validate(const Config& config) const {
    std::set<std::string, std::less<>> extra;
    if (auto list = config.get(kExtraKeysKey))
        for (std::string& key : split_list(*list))
            extra.insert(std::move(key));
    // (file, line, text): reported in the order the user reads the files.
    std::vector<std::tuple<std::string, int, std::string>> problems;
    for (const auto& [name, entry] : config.entries()) {
        std::string what;
        if (const Key* key = find(name)) {
            std::string wrong = check(*key, entry.value);
            if (!wrong.empty()) what = config.invalid(name, wrong).message;
        } else if (name == kExtraKeysKey || extra.count(name) ||
                   std::string_view(name).substr(0, kAppPrefix.size()) == kAppPrefix) {
            continue;
        } else if (auto it = unsupported_.find(name); it != unsupported_.end()) {
            what = config.invalid(name, it->second).message;
        } else {
            std::string near = nearest(name);
            what = config.where(name) + "unknown key " + quoted(name) +
                   (near.empty() ? " (a key of the application's own must start with '" +
                                       std::string(kAppPrefix) + "' or be listed in " +
                                       std::string(kExtraKeysKey) + ")"
                                 : " (did you mean " + quoted(near) + "?)");
        }
        if (!what.empty()) problems.emplace_back(entry.file, entry.line, std::move(what));
    }
    for (const auto& [name, key] : keys_) {
        if (key.required.empty() || config.entry(name)) continue;
        const std::string& file = config.origin();
        problems.emplace_back(file, 0,
                              (file.empty() ? "" : file + ": ") + "key " + quoted(name) +
                                  " is missing (" + key.required + ")");
    }
    if (problems.empty()) return {};
    std::sort(problems.begin(), problems.end());
    std::string message;
    for (const auto& p : problems)
        message += (message.empty() ? "" : "\n") + std::get<2>(p);
    return Error{message};
}

}  // namespace skyhive
