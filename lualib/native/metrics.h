#pragma once

// skynet.metrics: the node's metrics registry (core/metrics.h) and status board
// (core/status_board.h) for Lua services. Every service of a node sees the same families.
//
//   counter(name, help [, {labelnames...}]) -> family
//   gauge(name, help [, {labelnames...}]) -> family
//   histogram(name, help [, {labelnames...} [, {bounds in seconds...}]]) -> family
//       Registering a name again returns the same family when type, label names and bounds
//       match; raises otherwise, or when a name breaks Prometheus's naming rules (the error says
//       which rule).
//   family:labels(v1, v2, ...) -> child: one value (string or number) per label name; the same
//       values give the same child (cached per service).
//   child:inc([n]) (counter: n >= 0; gauge), child:dec([n]), child:set(v) (gauge),
//   child:observe(seconds) (histogram). A family without labels has these methods itself.
//   render() -> the Prometheus text (0.0.4) of the node: the built-in metrics and every family.
//   collect() -> { [name] = { type =, help =, samples = { { labels = {k = v}, value = n } |
//       { labels =, count =, sum =, buckets = { {le, cumulative count}, ... } } } } }
//   publish(topic, key, value | nil): value a table of strings, numbers, booleans and nested
//       tables (at most 16 deep); nil removes the key.
//   board(topic) -> { [key] = value } (a copy; empty for an unknown topic).
//
// Thread: the thread running the calling service; updates are lock-free atomics.

#include <lua.hpp>

namespace skyhive {
class Metric;
// The counter at idx (a child, or a family without labels), for native code that counts into it
// directly; raises when it is something else. The series lives as long as the node's registry.
Metric* metrics_counter_arg(lua_State* L, int idx);
}  // namespace skyhive

extern "C" int luaopen_skynet_metrics(lua_State* L);
