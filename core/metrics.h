#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace skyhive {

enum class MetricType : uint8_t { counter, gauge, histogram };
const char* metric_type_name(MetricType type);

class MetricFamily;

// Receives metrics family by family: family() once, then every sample of that family. The text
// renderer and the Lua collector implement it; the built-in collectors and the registry feed it.
// Thread: whatever thread drives the visit (one at a time per sink).
class MetricSink {
  public:
    virtual ~MetricSink() = default;
    virtual void family(std::string_view name, MetricType type, std::string_view help,
                        std::span<const std::string> label_names) = 0;
    // A counter's or gauge's sample; label_values match the family's label_names.
    virtual void value(std::span<const std::string_view> label_values, double v) = 0;
    // A histogram's sample: counts[i] observations fell in (bounds[i-1], bounds[i]]; the last
    // count (counts.size() == bounds.size() + 1) is the +Inf bucket.
    virtual void histogram(std::span<const std::string_view> label_values,
                           std::span<const double> bounds, std::span<const uint64_t> counts,
                           double sum) = 0;
};

// One labelled time series (a "child"), or a family's only series when it has no labels.
// Created by its family and never freed while the registry lives, so a pointer to it stays valid
// for the whole run. Updates are relaxed atomics and lock-free.
// Thread: any; updates from any number of threads at once.
class Metric {
  public:
    Metric(const MetricFamily& family, std::vector<std::string> label_values);
    Metric(const Metric&) = delete;
    Metric& operator=(const Metric&) = delete;

    // Counter and gauge: adds n (a counter's caller checks n >= 0).
    void add(double n) { value_.fetch_add(n, std::memory_order_relaxed); }
    // Gauge.
    void set(double v) { value_.store(v, std::memory_order_relaxed); }
    // Histogram: counts v in the first bucket whose bound is >= v, adds v to the sum.
    void observe(double v);

    double value() const { return value_.load(std::memory_order_relaxed); }
    const MetricFamily& family() const { return family_; }
    const std::vector<std::string>& label_values() const { return label_values_; }

  private:
    friend class MetricFamily;
    const MetricFamily& family_;
    const std::vector<std::string> label_values_;
    std::atomic<double> value_{0};                      // counter, gauge; a histogram's sum
    std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // histogram: bounds + 1, not cumulative
    static_assert(std::atomic<double>::is_always_lock_free);
};

// A named metric with fixed label names: its children, one per distinct label-value tuple.
// Children are created under the family's mutex and never freed; at most `max_children` exist,
// after which every new tuple maps to one overflow child (every label "_overflow") and is
// counted in dropped().
// Thread: any.
class MetricFamily {
  public:
    MetricFamily(MetricType type, std::string name, std::string help,
                 std::vector<std::string> label_names, std::vector<double> bounds,
                 size_t max_children);
    MetricFamily(const MetricFamily&) = delete;
    MetricFamily& operator=(const MetricFamily&) = delete;

    MetricType type() const { return type_; }
    const std::string& name() const { return name_; }
    const std::string& help() const { return help_; }
    const std::vector<std::string>& label_names() const { return label_names_; }
    const std::vector<double>& bounds() const { return bounds_; }

    // The child for these label values (as many as label_names; the caller checks), made on
    // first use. Never null.
    Metric* child(std::span<const std::string_view> values);
    // How many label tuples went to the overflow child because the family was full.
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    size_t size() const;

    // Feeds the family and its children to the sink, under the family's mutex.
    void visit(MetricSink& sink) const;

    static constexpr std::string_view kOverflow = "_overflow";

  private:
    const MetricType type_;
    const std::string name_;
    const std::string help_;
    const std::vector<std::string> label_names_;
    const std::vector<double> bounds_;
    const size_t max_children_;

    mutable std::mutex lock_;  // guards the containers below (not the children's values)
    std::vector<std::unique_ptr<Metric>> children_;   // in creation order
    std::unordered_map<std::string, Metric*> index_;  // joined label values -> child
    Metric* overflow_ = nullptr;                      // made when first needed
    std::atomic<uint64_t> dropped_{0};
};

// The metrics of one node: the families services register, and collectors that report what the
// node already keeps (services, workers, memory, sockets) when a scrape visits them.
//
// Families are registered under a mutex and live as long as the registry (the node); a name
// registered again returns the same family when type, label names (and a histogram's bounds)
// match, an error otherwise. Names and label names follow Prometheus's rules and its lint:
// lower-case snake case, counters end in "_total", no reserved suffixes or label names, help
// text required.
// Thread: any.
class MetricsRegistry {
  public:
    explicit MetricsRegistry(size_t max_children = kDefaultMaxChildren);
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    // bounds: histograms only; strictly increasing, finite (the +Inf bucket is implicit). An
    // empty list takes kDefaultBounds.
    Result<MetricFamily*> family(MetricType type, std::string_view name, std::string_view help,
                                 std::span<const std::string> label_names,
                                 std::span<const double> bounds = {});

    using Collector = std::function<void(MetricSink&)>;
    // Adds a collector that reports the families `names` (reserved: registering one of them is
    // an error). Collectors run first, in the order added. Thread: before the node starts.
    void add_collector(std::vector<std::string> names, Collector collect);

    // Feeds every metric to the sink: the collectors, then the families in registration order,
    // then the registry's own counters (dropped label sets).
    void visit(MetricSink& sink) const;
    // visit() into the Prometheus text format (0.0.4), appended to out.
    void render(std::string& out) const;

    static constexpr size_t kDefaultMaxChildren = 10000;
    static const std::vector<double> kDefaultBounds;

  private:
    const size_t max_children_;
    mutable std::mutex lock_;
    std::vector<std::unique_ptr<MetricFamily>> families_;  // in registration order
    std::unordered_map<std::string, MetricFamily*> by_name_;
    std::vector<std::string> reserved_;
    std::vector<Collector> collectors_;
};

// Checks a metric or label name against the rules MetricsRegistry::family applies; the error
// says what is wrong with which name.
Result<void> check_metric_name(MetricType type, std::string_view name);
Result<void> check_label_name(MetricType type, std::string_view name);

}  // namespace skyhive
