#include "core/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/metrics_text.h"

namespace skyhive {

const char* metric_type_name(MetricType type) {
    switch (type) {
        case MetricType::counter:
            return "counter";
        case MetricType::gauge:
            return "gauge";
        case MetricType::histogram:
            return "histogram";
    }
    return "untyped";
}

// Prometheus client libraries' defaults: 5 ms to 10 s.
const std::vector<double> MetricsRegistry::kDefaultBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1,    2.5,   5,    10};

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Lower-case snake case: what promtool's lint accepts without a camelCase or colon warning.
bool snake_case(std::string_view s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

}  // namespace

Result<void> check_metric_name(MetricType type, std::string_view name) {
    const std::string what = std::string(metric_type_name(type)) + " name " + quoted(name);
    if (!snake_case(name))
        return Error{what + ": use lower-case letters, digits and '_', not starting with a digit"};
    if (type == MetricType::counter && !ends_with(name, "_total"))
        return Error{what + ": a counter's name ends in '_total'"};
    if (type != MetricType::counter && ends_with(name, "_total"))
        return Error{what + ": only a counter's name ends in '_total'"};
    for (std::string_view suffix : {"_bucket", "_count", "_sum"})
        if (ends_with(name, suffix))
            return Error{what + ": '" + std::string(suffix) + "' is reserved for histograms"};
    // promtool's lint, word by word ('_'-separated): no type word, units in base units, no
    // abbreviated units.
    static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary"};
    static constexpr std::string_view kUnits[] = {"amperes", "bytes",  "celsius", "grams",
                                                  "joules",  "kelvin", "meters",  "metres",
                                                  "seconds", "volts"};
    static constexpr std::string_view kPrefixes[] = {"pico", "nano", "micro", "milli", "centi",
                                                     "deci", "deca", "hecto", "kilo",  "kila",
                                                     "mega", "giga", "tera",  "peta"};
    static constexpr std::string_view kAbbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                          "mb", "gb", "tb", "pb", "m",   "h", "d"};
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('_', start);
        if (end == std::string_view::npos) end = name.size();
        const std::string_view word = name.substr(start, end - start);
        start = end + 1;
        for (std::string_view t : kTypes)
            if (word == t)
                return Error{what + ": the type ('" + std::string(t) + "') does not belong in it"};
        for (std::string_view a : kAbbreviations)
            if (word == a)
                return Error{what + ": '" + std::string(a) +
                             "' is an abbreviated unit: spell "
                             "it out, in base units (seconds, bytes)"};
        for (std::string_view p : kPrefixes) {
            if (word.size() <= p.size() || word.substr(0, p.size()) != p) continue;
            for (std::string_view u : kUnits)
                if (word.substr(p.size()) == u)
                    return Error{what + ": use the base unit '" + std::string(u) + "', not '" +
                                 std::string(word) + "'"};
        }
    }
    return {};
}

Result<void> check_label_name(MetricType type, std::string_view name) {
    if (!snake_case(name) || name.substr(0, 2) == "__")
        return Error{"label name " + quoted(name) +
                     ": use lower-case letters, digits and '_', not starting with a digit or '__'"};
    if (name == "le") return Error{"label name 'le' is reserved for a histogram's buckets"};
    if (name == "quantile") return Error{"label name 'quantile' is reserved for summaries"};
    (void)type;
    return {};
}

Metric::Metric(const MetricFamily& family, std::vector<std::string> label_values)
    : family_(family), label_values_(std::move(label_values)) {
    if (family.type() == MetricType::histogram) {
        const size_t n = family.bounds().size() + 1;
        buckets_ = std::make_unique<std::atomic<uint64_t>[]>(n);
        for (size_t i = 0; i < n; ++i)
            buckets_[i].store(0, std::memory_order_relaxed);
    }
}

void Metric::observe(double v) {
    const auto& bounds = family_.bounds();
    const size_t i = size_t(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    value_.fetch_add(v, std::memory_order_relaxed);
}

MetricFamily::MetricFamily(MetricType type, std::string name, std::string help,
                           std::vector<std::string> label_names, std::vector<double> bounds,
                           size_t max_children)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)),
      max_children_(max_children) {}

Metric* MetricFamily::child(std::span<const std::string_view> values) {
    std::string key;
    for (std::string_view v : values) {
        key.append(v);
        key += '\xff';  // not in UTF-8 text: "a" + "b\xffc" cannot meet "a\xffb" + "c"
    }
    std::lock_guard guard(lock_);
    if (auto it = index_.find(key); it != index_.end()) return it->second;
    if (children_.size() >= max_children_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        if (!overflow_) {
            std::vector<std::string> labels(label_names_.size(), std::string(kOverflow));
            children_.push_back(std::make_unique<Metric>(*this, std::move(labels)));
            overflow_ = children_.back().get();
        }
        return overflow_;
    }
    children_.push_back(
        std::make_unique<Metric>(*this, std::vector<std::string>(values.begin(), values.end())));
    Metric* m = children_.back().get();
    index_.emplace(std::move(key), m);
    return m;
}

size_t MetricFamily::size() const {
    std::lock_guard guard(lock_);
    return children_.size();
}

void MetricFamily::visit(MetricSink& sink) const {
    std::lock_guard guard(lock_);
    sink.family(name_, type_, help_, label_names_);
    std::vector<std::string_view> labels(label_names_.size());
    std::vector<uint64_t> counts(type_ == MetricType::histogram ? bounds_.size() + 1 : 0);
    for (const auto& m : children_) {
        for (size_t i = 0; i < labels.size(); ++i)
            labels[i] = m->label_values_[i];
        if (type_ != MetricType::histogram) {
            sink.value(labels, m->value());
            continue;
        }
        for (size_t i = 0; i < counts.size(); ++i)
            counts[i] = m->buckets_[i].load(std::memory_order_relaxed);
        sink.histogram(labels, bounds_, counts, m->value());
    }
}

MetricsRegistry::MetricsRegistry(size_t max_children)
    : max_children_(max_children), reserved_{"skyhive_metrics_dropped_label_sets_total"} {}

Result<MetricFamily*> MetricsRegistry::family(MetricType type, std::string_view name,
                                              std::string_view help,
                                              std::span<const std::string> label_names,
                                              std::span<const double> bounds) {
    const std::string what = std::string(metric_type_name(type)) + " " + quoted(name);
    {
        // A name already taken answers that first: it says more than a naming rule would.
        std::lock_guard guard(lock_);
        auto it = by_name_.find(std::string(name));
        if (it != by_name_.end() && it->second->type() != type)
            return Error{what + ": already registered as a " +
                         metric_type_name(it->second->type())};
    }
    if (auto ok = check_metric_name(type, name); !ok) return ok.error();
    if (help.empty()) return Error{what + ": help text is required"};
    for (size_t i = 0; i < label_names.size(); ++i) {
        if (auto ok = check_label_name(type, label_names[i]); !ok)
            return Error{what + ": " + ok.error().message};
        for (size_t j = 0; j < i; ++j)
            if (label_names[j] == label_names[i])
                return Error{what + ": label " + quoted(label_names[i]) + " appears twice"};
    }
    std::vector<double> b;
    if (type == MetricType::histogram) {
        b.assign(bounds.begin(), bounds.end());
        if (b.empty()) b = kDefaultBounds;
        for (size_t i = 0; i < b.size(); ++i) {
            if (!std::isfinite(b[i]))
                return Error{what + ": bucket bound " + std::to_string(i + 1) + " is not finite"};
            if (i > 0 && !(b[i] > b[i - 1]))
                return Error{what + ": bucket bounds must increase (bound " +
                             std::to_string(i + 1) + ")"};
        }
    } else if (!bounds.empty()) {
        return Error{what + ": only a histogram has bucket bounds"};
    }

    std::lock_guard guard(lock_);
    const std::string key(name);
    if (std::find(reserved_.begin(), reserved_.end(), key) != reserved_.end())
        return Error{what + ": the name belongs to a built-in metric"};
    if (auto it = by_name_.find(key); it != by_name_.end()) {
        MetricFamily* f = it->second;
        if (f->type() != type)
            return Error{what + ": already registered as a " + metric_type_name(f->type())};
        if (!std::equal(f->label_names().begin(), f->label_names().end(), label_names.begin(),
                        label_names.end()))
            return Error{what + ": already registered with other label names"};
        if (f->bounds() != b) return Error{what + ": already registered with other buckets"};
        return f;
    }
    families_.push_back(std::make_unique<MetricFamily>(
        type, key, std::string(help),
        std::vector<std::string>(label_names.begin(), label_names.end()), std::move(b),
        max_children_));
    MetricFamily* f = families_.back().get();
    by_name_.emplace(key, f);
    return f;
}

void MetricsRegistry::add_collector(std::vector<std::string> names, Collector collect) {
    std::lock_guard guard(lock_);
    for (auto& n : names)
        reserved_.push_back(std::move(n));
    collectors_.push_back(std::move(collect));
}

void MetricsRegistry::visit(MetricSink& sink) const {
    // Families are never freed: the list can be copied and visited without the registry's lock,
    // so a scrape does not hold up a service registering a family.
    std::vector<const MetricFamily*> families;
    std::vector<Collector> collectors;
    {
        std::lock_guard guard(lock_);
        families.reserve(families_.size());
        for (const auto& f : families_)
            families.push_back(f.get());
        collectors = collectors_;
    }
    for (const Collector& c : collectors)
        c(sink);
    for (const MetricFamily* f : families)
        f->visit(sink);

    static const std::string family_label[] = {"family"};
    sink.family("skyhive_metrics_dropped_label_sets_total", MetricType::counter,
                "Label sets that found a family full (at its limit of children) and were counted "
                "in its _overflow child.",
                family_label);
    for (const MetricFamily* f : families) {
        if (uint64_t n = f->dropped()) {
            std::string_view name = f->name();
            sink.value({&name, 1}, double(n));
        }
    }
}

void MetricsRegistry::render(std::string& out) const {
    MetricsText text(out);
    visit(text);
}

}  // namespace skyhive
