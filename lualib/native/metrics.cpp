#include "lualib/native/metrics.h"

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.h"
#include "core/node.h"
#include "core/status_board.h"
#include "lualib/native/seri.h"
#include "lualib/native/skynet_core.h"

// Lua raises errors with longjmp, which skips C++ destructors. The functions below check their
// arguments before making C++ objects, and keep the containers they fill while pushing Lua values
// inside a userdata whose __gc destroys them (Holder), so nothing leaks when Lua raises.

namespace skyhive {
namespace {

constexpr const char* kFamilyMeta = "skynet.metrics.family";
constexpr const char* kChildMeta = "skynet.metrics.child";
constexpr int kMaxLabels = 16;
constexpr int kMaxBounds = 64;
constexpr int kMaxBoardDepth = 16;

struct FamilyBox {
    MetricFamily* family;
    Metric* solo;  // the only child of a family without labels; null otherwise
};

struct ChildBox {
    Metric* metric;
};

Node& node_of(lua_State* L) {
    return core_args::service_of(L).node();
}

// A C++ object owned by a Lua userdata: destroyed by __gc, so it survives a longjmp.
template <class T>
int destroy_holder(lua_State* L) {
    auto** p = static_cast<T**>(lua_touserdata(L, 1));
    delete *p;
    *p = nullptr;
    return 0;
}

template <class T>
T& new_holder(lua_State* L) {
    auto** p = static_cast<T**>(lua_newuserdatauv(L, sizeof(T*), 0));
    *p = nullptr;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, destroy_holder<T>);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    *p = new T();
    return **p;
}

// ---- registration --------------------------------------------------------------------------

// Pushes the service's userdata of family f: one per family and service, so that registering a
// name again returns the same Lua value (and its cache of children).
int push_family(lua_State* L, MetricFamily* f) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, kFamilyMeta) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, kFamilyMeta);
    }
    if (lua_rawgetp(L, -1, f) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    auto* box = static_cast<FamilyBox*>(lua_newuserdatauv(L, sizeof(FamilyBox), 1));
    box->family = f;
    box->solo = nullptr;
    if (f->label_names().empty()) box->solo = f->child({});
    luaL_setmetatable(L, kFamilyMeta);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, f);
    return 1;
}

int register_family(lua_State* L, MetricType type, const char* fn) {
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    const int nlabels =
        lua_isnoneornil(L, 3) ? 0 : (luaL_checktype(L, 3, LUA_TTABLE), int(luaL_len(L, 3)));
    if (nlabels > kMaxLabels)
        return luaL_error(L, "metrics.%s: more than %d labels", fn, kMaxLabels);
    for (int i = 1; i <= nlabels; ++i) {
        if (lua_rawgeti(L, 3, i) != LUA_TSTRING)
            return luaL_error(L, "metrics.%s: label name %d is a %s, not a string", fn, i,
                              luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    int nbounds = 0;
    if (type == MetricType::histogram && !lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        nbounds = int(luaL_len(L, 4));
        if (nbounds > kMaxBounds)
            return luaL_error(L, "metrics.%s: more than %d bucket bounds", fn, kMaxBounds);
        for (int i = 1; i <= nbounds; ++i) {
            if (lua_rawgeti(L, 4, i) != LUA_TNUMBER)
                return luaL_error(L, "metrics.%s: bucket bound %d is a %s, not a number", fn, i,
                                  luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    }
    // Strings stay referenced by the argument tables while the C++ code below runs.
    MetricFamily* f = nullptr;
    bool failed = false;
    {
        std::vector<std::string> labels;
        std::vector<double> bounds;
        for (int i = 1; i <= nlabels; ++i) {
            lua_rawgeti(L, 3, i);
            labels.emplace_back(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        for (int i = 1; i <= nbounds; ++i) {
            lua_rawgeti(L, 4, i);
            bounds.push_back(lua_tonumber(L, -1));
            lua_pop(L, 1);
        }
        auto r = node_of(L).metrics().family(type, lua_tostring(L, 1), lua_tostring(L, 2), labels,
                                             bounds);
        if (r) {
            f = *r;
        } else {
            failed = true;
            lua_pushlstring(L, r.error().message.data(), r.error().message.size());
        }
    }
    if (failed) {
        std::string_view text = lua_tostring(L, -1);
        lua_pushfstring(L, "metrics.%s: %s", fn, text.data());
        return lua_error(L);
    }
    return push_family(L, f);
}

int l_counter(lua_State* L) {
    return register_family(L, MetricType::counter, "counter");
}
int l_gauge(lua_State* L) {
    return register_family(L, MetricType::gauge, "gauge");
}
int l_histogram(lua_State* L) {
    return register_family(L, MetricType::histogram, "histogram");
}

// ---- children ------------------------------------------------------------------------------

// labels(family, v1, ...) -> child. The family's user value caches children by value tuple:
// cache[v1][v2]... = child userdata.
int l_labels(lua_State* L) {
    auto* box = static_cast<FamilyBox*>(luaL_checkudata(L, 1, kFamilyMeta));
    const MetricFamily& f = *box->family;
    const int n = lua_gettop(L) - 1;
    const int want = int(f.label_names().size());
    if (n != want)
        return luaL_error(L, "metrics: %s takes %d label value(s), got %d", f.name().c_str(), want,
                          n);
    for (int i = 2; i <= n + 1; ++i) {
        const int t = lua_type(L, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            return luaL_error(L, "metrics: %s: label %s is a %s, not a string or number",
                              f.name().c_str(), f.label_names()[size_t(i - 2)].c_str(),
                              luaL_typename(L, i));
    }
    // Walk (and make) the cache path.
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 1);
    }
    for (int i = 2; i <= n + 1; ++i) {
        lua_pushvalue(L, i);
        if (lua_rawget(L, -2) == LUA_TNIL) {
            lua_pop(L, 1);
            if (i == n + 1) break;  // the leaf is made below
            lua_newtable(L);
            lua_pushvalue(L, i);
            lua_pushvalue(L, -2);
            lua_rawset(L, -4);
        } else if (i == n + 1) {
            return 1;  // cached child
        }
        lua_remove(L, -2);
    }
    if (n == 0) {
        // No labels: the family's own series, cached under a key no label value can be.
        if (lua_rawgetp(L, -1, kChildMeta) != LUA_TNIL) return 1;
        lua_pop(L, 1);
        auto* child = static_cast<ChildBox*>(lua_newuserdatauv(L, sizeof(ChildBox), 0));
        child->metric = box->solo;
        luaL_setmetatable(L, kChildMeta);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, -3, kChildMeta);
        return 1;
    }
    // Stack: ..., the cache table of the last level. Label values as text (numbers through a copy,
    // so the cache keeps the original value).
    std::array<std::string_view, kMaxLabels> values;
    for (int i = 2; i <= n + 1; ++i) {
        lua_pushvalue(L, i);
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        values[size_t(i - 2)] = std::string_view(s, len);
    }
    Metric* m = box->family->child({values.data(), size_t(n)});
    lua_pop(L, n);
    auto* child = static_cast<ChildBox*>(lua_newuserdatauv(L, sizeof(ChildBox), 0));
    child->metric = m;
    luaL_setmetatable(L, kChildMeta);
    lua_pushvalue(L, n + 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    return 1;
}

// The series a method acts on: a child, or a family without labels. The methods hold the two
// metatables as upvalues (1: a child's, 2: a family's; make_methods_meta): luaL_testudata would
// look each up in the registry by name, about 300 instructions a call, and the Redis client
// calls these a few times per command.
Metric& series_of(lua_State* L, const char* method) {
    void* p = lua_touserdata(L, 1);
    FamilyBox* box = nullptr;
    if (p && lua_getmetatable(L, 1)) {
        const bool child = lua_rawequal(L, -1, lua_upvalueindex(1));
        const bool family = !child && lua_rawequal(L, -1, lua_upvalueindex(2));
        lua_pop(L, 1);
        if (child) return *static_cast<ChildBox*>(p)->metric;
        if (family) box = static_cast<FamilyBox*>(p);
    }
    if (!box) luaL_error(L, "metrics: %s needs a metric family or child (use ':')", method);
    if (!box->solo) {
        luaL_error(L, "metrics: %s has labels: call %s on family:labels(...)",
                   box->family->name().c_str(), method);
    }
    return *box->solo;
}

int wrong_type(lua_State* L, const Metric& m, const char* method) {
    return luaL_error(L, "metrics: %s is a %s: it has no %s", m.family().name().c_str(),
                      metric_type_name(m.family().type()), method);
}

double check_amount(lua_State* L, int arg, const Metric& m, const char* method) {
    const double n = luaL_optnumber(L, arg, 1);
    if (std::isnan(n)) luaL_error(L, "metrics: %s:%s(NaN)", m.family().name().c_str(), method);
    return n;
}

int l_inc(lua_State* L) {
    Metric& m = series_of(L, "inc");
    if (m.family().type() == MetricType::histogram) return wrong_type(L, m, "inc");
    const double n = check_amount(L, 2, m, "inc");
    if (m.family().type() == MetricType::counter && !(n >= 0))
        return luaL_error(L, "metrics: counter %s:inc(%f): a counter only goes up",
                          m.family().name().c_str(), n);
    m.add(n);
    return 0;
}

int l_dec(lua_State* L) {
    Metric& m = series_of(L, "dec");
    if (m.family().type() != MetricType::gauge) return wrong_type(L, m, "dec");
    m.add(-check_amount(L, 2, m, "dec"));
    return 0;
}

int l_set(lua_State* L) {
    Metric& m = series_of(L, "set");
    if (m.family().type() != MetricType::gauge) return wrong_type(L, m, "set");
    m.set(luaL_checknumber(L, 2));
    return 0;
}

int l_observe(lua_State* L) {
    Metric& m = series_of(L, "observe");
    if (m.family().type() != MetricType::histogram) return wrong_type(L, m, "observe");
    const double v = luaL_checknumber(L, 2);
    if (std::isnan(v)) return luaL_error(L, "metrics: %s:observe(NaN)", m.family().name().c_str());
    m.observe(v);
    return 0;
}

int l_tostring(lua_State* L) {
    if (auto* c = static_cast<ChildBox*>(luaL_testudata(L, 1, kChildMeta))) {
        lua_pushfstring(L, "metric child: %s", c->metric->family().name().c_str());
        return 1;
    }
    auto* box = static_cast<FamilyBox*>(luaL_checkudata(L, 1, kFamilyMeta));
    lua_pushfstring(L, "metric family: %s (%s)", box->family->name().c_str(),
                    metric_type_name(box->family->type()));
    return 1;
}

// ---- render and collect --------------------------------------------------------------------

int l_render(lua_State* L) {
    // One buffer per thread, reused: a scrape allocates nothing once it has grown.
    thread_local std::string buffer;
    buffer.clear();
    node_of(L).metrics().render(buffer);
    lua_pushlstring(L, buffer.data(), buffer.size());
    return 1;
}

// What collect() copies out of the registry before building Lua tables.
struct Snapshot final : MetricSink {
    struct Sample {
        std::vector<std::string> labels;
        double value = 0;  // a histogram's sum
        std::vector<uint64_t> counts;
    };
    struct Family {
        std::string name;
        MetricType type;
        std::string help;
        std::vector<std::string> label_names;
        std::vector<double> bounds;
        std::vector<Sample> samples;
    };
    std::vector<Family> families;

    void family(std::string_view name, MetricType type, std::string_view help,
                std::span<const std::string> label_names) override {
        families.push_back(Family{std::string(name),
                                  type,
                                  std::string(help),
                                  {label_names.begin(), label_names.end()},
                                  {},
                                  {}});
    }
    void value(std::span<const std::string_view> label_values, double v) override {
        families.back().samples.push_back(
            Sample{{label_values.begin(), label_values.end()}, v, {}});
    }
    void histogram(std::span<const std::string_view> label_values, std::span<const double> bounds,
                   std::span<const uint64_t> counts, double sum) override {
        Family& f = families.back();
        if (f.bounds.empty()) f.bounds.assign(bounds.begin(), bounds.end());
        f.samples.push_back(Sample{
            {label_values.begin(), label_values.end()}, sum, {counts.begin(), counts.end()}});
    }
};

void push_string(lua_State* L, const std::string& s) {
    lua_pushlstring(L, s.data(), s.size());
}

int l_collect(lua_State* L) {
    Snapshot& snap = new_holder<Snapshot>(L);
    node_of(L).metrics().visit(snap);
    lua_createtable(L, 0, int(snap.families.size()));
    for (const auto& f : snap.families) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, metric_type_name(f.type));
        lua_setfield(L, -2, "type");
        push_string(L, f.help);
        lua_setfield(L, -2, "help");
        lua_createtable(L, int(f.samples.size()), 0);
        lua_Integer index = 0;
        for (const auto& s : f.samples) {
            lua_createtable(L, 0, 4);
            lua_createtable(L, 0, int(s.labels.size()));
            for (size_t i = 0; i < s.labels.size() && i < f.label_names.size(); ++i) {
                push_string(L, s.labels[i]);
                lua_setfield(L, -2, f.label_names[i].c_str());
            }
            lua_setfield(L, -2, "labels");
            if (f.type != MetricType::histogram) {
                lua_pushnumber(L, s.value);
                lua_setfield(L, -2, "value");
            } else {
                lua_pushnumber(L, s.value);
                lua_setfield(L, -2, "sum");
                lua_createtable(L, int(s.counts.size()), 0);
                uint64_t cumulative = 0;
                for (size_t i = 0; i < s.counts.size(); ++i) {
                    cumulative += s.counts[i];
                    lua_createtable(L, 2, 0);
                    lua_pushnumber(L, i < f.bounds.size() ? f.bounds[i] : HUGE_VAL);
                    lua_rawseti(L, -2, 1);
                    lua_pushinteger(L, lua_Integer(cumulative));
                    lua_rawseti(L, -2, 2);
                    lua_rawseti(L, -2, lua_Integer(i + 1));
                }
                lua_setfield(L, -2, "buckets");
                lua_pushinteger(L, lua_Integer(cumulative));
                lua_setfield(L, -2, "count");
            }
            lua_rawseti(L, -2, ++index);
        }
        lua_setfield(L, -2, "samples");
        lua_setfield(L, -2, f.name.c_str());
    }
    return 1;
}

// ---- the status board ----------------------------------------------------------------------

// Checks that the value at `idx` is a string, number, boolean or a table of those (keys strings
// or numbers), at most kMaxBoardDepth tables deep. `path` names the place for the error.
void check_board_value(lua_State* L, int idx, int depth, const char* path) {
    const int t = lua_type(L, idx);
    if (t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN) return;
    if (t != LUA_TTABLE)
        luaL_error(L,
                   "metrics.publish: %s is a %s (values are strings, numbers, booleans and "
                   "tables of them)",
                   path, luaL_typename(L, idx));
    if (depth >= kMaxBoardDepth)
        luaL_error(L, "metrics.publish: %s: tables nested deeper than %d (a cycle?)", path,
                   kMaxBoardDepth);
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const int kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
            luaL_error(L, "metrics.publish: %s has a %s key (keys are strings or numbers)", path,
                       luaL_typename(L, -2));
        lua_pushvalue(L, -2);
        const char* sub = lua_pushfstring(L, "%s.%s", path, lua_tostring(L, -1));
        check_board_value(L, -3, depth + 1, sub);
        lua_pop(L, 3);
    }
}

int l_publish(lua_State* L) {
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    const bool remove = lua_isnoneornil(L, 3);
    if (!remove) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushfstring(L, "%s/%s", lua_tostring(L, 1), lua_tostring(L, 2));
        check_board_value(L, 3, 0, lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_settop(L, 3);
        lua_pushcfunction(L, seri_packstring);
        lua_pushvalue(L, 3);
        lua_call(L, 1, 1);  // stack 4: the packed value
    }
    bool failed = false;
    {
        size_t len = 0;
        const char* packed = remove ? nullptr : lua_tolstring(L, 4, &len);
        std::optional<std::string> value;
        if (packed) value.emplace(packed, len);
        auto r =
            node_of(L).board().publish(lua_tostring(L, 1), lua_tostring(L, 2), std::move(value));
        if (!r) {
            failed = true;
            lua_pushlstring(L, r.error().message.data(), r.error().message.size());
        }
    }
    if (failed) {
        lua_pushfstring(L, "metrics.publish: %s", lua_tostring(L, -1));
        return lua_error(L);
    }
    return 0;
}

using BoardEntries = std::vector<std::pair<std::string, std::string>>;

int l_board(lua_State* L) {
    luaL_checkstring(L, 1);
    BoardEntries& entries = new_holder<BoardEntries>(L);
    entries = node_of(L).board().read(lua_tostring(L, 1));
    lua_createtable(L, 0, int(entries.size()));
    for (const auto& [key, value] : entries) {
        push_string(L, key);
        lua_pushcfunction(L, seri_unpack);
        push_string(L, value);
        lua_call(L, 1, 1);
        lua_rawset(L, -3);
    }
    return 1;
}

// Fills the metatable `name` (made by the caller, as is the other one): __index with the methods,
// which get both metatables as upvalues (series_of), and __tostring.
void make_methods_meta(lua_State* L, const char* name, bool with_labels) {
    luaL_getmetatable(L, name);
    lua_createtable(L, 0, 5);
    static const luaL_Reg methods[] = {
        {"inc", l_inc}, {"dec", l_dec}, {"set", l_set}, {"observe", l_observe}, {nullptr, nullptr},
    };
    luaL_getmetatable(L, kChildMeta);
    luaL_getmetatable(L, kFamilyMeta);
    luaL_setfuncs(L, methods, 2);
    if (with_labels) {
        lua_pushcfunction(L, l_labels);
        lua_setfield(L, -2, "labels");
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

}  // namespace

Metric* metrics_counter_arg(lua_State* L, int idx) {
    Metric* m = nullptr;
    if (auto* c = static_cast<ChildBox*>(luaL_testudata(L, idx, kChildMeta))) m = c->metric;
    if (auto* box = static_cast<FamilyBox*>(luaL_testudata(L, idx, kFamilyMeta))) m = box->solo;
    if (!m || m->family().type() != MetricType::counter)
        luaL_argerror(L, idx, "a counter (a child, or a family without labels) expected");
    return m;
}

}  // namespace skyhive

extern "C" int luaopen_skynet_metrics(lua_State* L) {
    using namespace skyhive;
    luaL_newmetatable(L, kFamilyMeta);
    luaL_newmetatable(L, kChildMeta);
    lua_pop(L, 2);
    make_methods_meta(L, kFamilyMeta, true);
    make_methods_meta(L, kChildMeta, false);
    static const luaL_Reg funcs[] = {
        {"counter", l_counter}, {"gauge", l_gauge},     {"histogram", l_histogram},
        {"render", l_render},   {"collect", l_collect}, {"publish", l_publish},
        {"board", l_board},     {nullptr, nullptr},
    };
    luaL_newlib(L, funcs);
    // inc, dec, set and observe, which take a child or a label-less family as their first
    // argument: for a hot path that calls them as upvalues, without the lookup through the
    // metatable that m:inc() makes. A copy: changing it changes no metric's methods.
    lua_newtable(L);
    luaL_getmetatable(L, kChildMeta);
    lua_getfield(L, -1, "__index");
    lua_remove(L, -2);
    for (lua_pushnil(L); lua_next(L, -2);)
        lua_setfield(L, -4, lua_tostring(L, -2));
    lua_pop(L, 1);
    lua_setfield(L, -2, "methods");
    return 1;
}
