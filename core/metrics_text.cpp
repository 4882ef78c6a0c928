#include "core/metrics_text.h"

#include <charconv>
#include <cmath>

namespace skyhive {

void MetricsText::append_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[32];
    std::to_chars_result r;
    // Integral values (the common case: counts, bytes) print without exponent up to 2^63.
    if (v == std::trunc(v) && std::fabs(v) < 9.2e18)
        r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    else
        r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void MetricsText::append_escaped(std::string& out, std::string_view s, bool quote) {
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c != '\\' && c != '\n' && !(quote && c == '"')) continue;
        out.append(s.data() + start, i - start);
        out += '\\';
        out += c == '\n' ? 'n' : c;
        start = i + 1;
    }
    out.append(s.data() + start, s.size() - start);
}

void MetricsText::family(std::string_view name, MetricType type, std::string_view help,
                         std::span<const std::string> label_names) {
    name_.assign(name);
    label_names_ = label_names;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += metric_type_name(type);
    out_ += '\n';
}

void MetricsText::labels(std::span<const std::string_view> values, std::string_view extra_name,
                         std::string_view extra_value) {
    if (values.empty() && extra_name.empty()) {
        out_ += ' ';
        return;
    }
    out_ += '{';
    for (size_t i = 0; i < values.size() && i < label_names_.size(); ++i) {
        if (i) out_ += ',';
        out_ += label_names_[i];
        out_ += "=\"";
        append_escaped(out_, values[i], true);
        out_ += '"';
    }
    if (!extra_name.empty()) {
        if (!values.empty()) out_ += ',';
        out_ += extra_name;
        out_ += "=\"";
        out_ += extra_value;
        out_ += '"';
    }
    out_ += "} ";
}

void MetricsText::value(std::span<const std::string_view> label_values, double v) {
    out_ += name_;
    labels(label_values);
    append_number(out_, v);
    out_ += '\n';
}

void MetricsText::histogram(std::span<const std::string_view> label_values,
                            std::span<const double> bounds, std::span<const uint64_t> counts,
                            double sum) {
    uint64_t cumulative = 0;
    std::string le;
    for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        le.clear();
        if (i < bounds.size())
            append_number(le, bounds[i]);
        else
            le = "+Inf";
        out_ += name_;
        out_ += "_bucket";
        labels(label_values, "le", le);
        append_number(out_, double(cumulative));
        out_ += '\n';
    }
    out_ += name_;
    out_ += "_sum";
    labels(label_values);
    append_number(out_, sum);
    out_ += '\n';
    out_ += name_;
    out_ += "_count";
    labels(label_values);
    append_number(out_, double(cumulative));
    out_ += '\n';
}

}  // namespace skyhive
