#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace skyhive {

// The keys a config may carry, each with the kind of value it takes, so that a whole config can
// be checked before anything starts. core/ declares no key itself: whoever composes a node (the
// binary) declares the keys its node and services read.
//
// Besides declared keys a config may carry the application's own: any key starting with
// kAppPrefix, and the keys listed (separated by commas or spaces) in the config's own
// `kExtraKeysKey` entry. Their values are not checked.
//
// Thread: build on one thread, then validate from any (const after building).
class ConfigSchema {
  public:
    static constexpr std::string_view kAppPrefix = "app_";
    static constexpr std::string_view kExtraKeysKey = "extra_keys";

    enum class Kind {
        string,        // any text
        nonempty,      // any text but ""
        integer,       // an integer in [min, max]
        boolean,       // true or false
        choice,        // one of `choices`
        name,          // letters, digits, '_' and '-'
        address,       // "host:port" or "[v6]:port", port 0-65535
        address_list,  // one or more addresses separated by commas or spaces
        node_list,     // one or more "name=host:port" (a name as in `name`), no name twice
        path,          // a file or directory path; may be "" or false when `off` is set
    };

    struct Key {
        std::string name;
        Kind kind = Kind::string;
        int64_t min = 0;
        int64_t max = 0;
        std::vector<std::string> choices;
        bool off = false;      // "false" (and "") are accepted too: the feature is turned off
        std::string required;  // when not empty the key must be set; says what to set it to
    };

    ConfigSchema& string(std::string name);
    ConfigSchema& nonempty(std::string name);
    ConfigSchema& integer(std::string name, int64_t min, int64_t max);
    ConfigSchema& boolean(std::string name);
    ConfigSchema& choice(std::string name, std::vector<std::string> choices);
    ConfigSchema& node_name(std::string name);
    // Whether a key also takes false (or "") to turn its feature off.
    enum class Off : uint8_t { no, allowed };
    ConfigSchema& address(std::string name, Off off = Off::no);
    ConfigSchema& address_list(std::string name);
    ConfigSchema& node_list(std::string name);
    ConfigSchema& path(std::string name, Off off = Off::no);
    // A key of skynet's that this node does not implement: an error that says so, rather than
    // "unknown key".
    ConfigSchema& unsupported(std::string name, std::string why);
    // Makes the declared key `name` one a config must set; `what` tells the user what to set it to
    // ("the first service to start, e.g. ...").
    ConfigSchema& required(std::string_view name, std::string what);

    const Key* find(std::string_view name) const;
    // The declared key closest in spelling to `name`, or "" when none is close.
    std::string nearest(std::string_view name) const;

    // Checks every entry of `config`: the key is declared (or the application's own) and its
    // value fits, and every required key is set. The error lists every problem, one per line, in
    // file and line order, each as "file:line: key 'k': ...", "file:line: unknown key 'k' (did you
    // mean 'thread'?)" or, naming the config's origin, "file: key 'k' is missing (...)".
    Result<void> validate(const Config& config) const;

  private:
    ConfigSchema& add(Key key);
    // What is wrong with `value` for `key`, or "" when it fits.
    static std::string check(const Key& key, const std::string& value);

    std::map<std::string, Key, std::less<>> keys_;
    std::map<std::string, std::string, std::less<>> unsupported_;
};

// What is wrong with `v` as a "host:port" or "[v6]:port" value ("no port", "a port over 65535"),
// or "" when it fits: the rule of Kind::address, for checks outside a schema.
std::string address_problem(std::string_view v);
// Whether `v` is a name as Kind::name takes it: 1 to 64 letters, digits, '_' or '-'.
bool is_node_name(std::string_view v);

}  // namespace skyhive
