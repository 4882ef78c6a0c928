#pragma once

#include <string>

#include "core/metrics.h"

namespace skyhive {

// Writes what it is fed in the Prometheus text exposition format 0.0.4: HELP and TYPE lines per
// family, label values and help text escaped (backslash, double quote, newline), numbers in the
// shortest form that reads back exactly, histograms as cumulative _bucket lines with le, then
// _sum and _count. Appends to a caller's buffer, so a scraper can reuse one.
// Thread: one thread at a time.
class MetricsText final : public MetricSink {
  public:
    explicit MetricsText(std::string& out) : out_(out) {}

    void family(std::string_view name, MetricType type, std::string_view help,
                std::span<const std::string> label_names) override;
    void value(std::span<const std::string_view> label_values, double v) override;
    void histogram(std::span<const std::string_view> label_values, std::span<const double> bounds,
                   std::span<const uint64_t> counts, double sum) override;

    // Appends v as the format writes numbers ("+Inf", "NaN", integers without a decimal point).
    static void append_number(std::string& out, double v);
    // Appends s with backslash, newline and (when `quote`) the double quote escaped.
    static void append_escaped(std::string& out, std::string_view s, bool quote);

  private:
    // `{name="value",...` plus an optional extra label (le), closed with `}` and a space.
    void labels(std::span<const std::string_view> values, std::string_view extra_name = {},
                std::string_view extra_value = {});

    std::string& out_;
    std::string name_;
    std::span<const std::string> label_names_;
};

}  // namespace skyhive
