// core/metrics.*: the registry's families and children, lock-free updates from many threads, the
// Prometheus text, and the bounds that keep a label bug from eating memory.
#include "core/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/metrics_text.h"

namespace skyhive {
namespace {

std::vector<std::string> names(std::initializer_list<const char*> list) {
    return {list.begin(), list.end()};
}

MetricFamily* must(Result<MetricFamily*> r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : nullptr;
}

std::string render(const MetricsRegistry& registry) {
    std::string out;
    registry.render(out);
    return out;
}

TEST(Metrics, ConcurrentUpdatesGiveExactTotals) {
    MetricsRegistry registry;
    auto* hits = must(registry.family(MetricType::counter, "hits_total", "Hits.", names({"k"})));
    auto* wait = must(registry.family(MetricType::histogram, "wait_seconds", "Waits.", {},
                                      std::vector<double>{0.5, 1.5}));
    constexpr int kThreads = 8;
    constexpr int kPerThread = 100000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::string_view label = t % 2 ? "odd" : "even";
            Metric* child = hits->child({&label, 1});
            Metric* solo = wait->child({});
            for (int i = 0; i < kPerThread; ++i) {
                child->add(1);
                solo->observe(i % 2 ? 1.0 : 0.25);  // half in each of the first two buckets
            }
        });
    }
    for (auto& th : threads)
        th.join();
    std::string_view odd = "odd", even = "even";
    EXPECT_EQ(hits->child({&odd, 1})->value(), double(kThreads / 2 * kPerThread));
    EXPECT_EQ(hits->child({&even, 1})->value(), double(kThreads / 2 * kPerThread));
    EXPECT_EQ(hits->size(), 2u);
    const std::string text = render(registry);
    const int total = kThreads * kPerThread;
    EXPECT_NE(text.find("wait_seconds_bucket{le=\"0.5\"} " + std::to_string(total / 2) + "\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("wait_seconds_bucket{le=\"1.5\"} " + std::to_string(total) + "\n"),
              std::string::npos);
    EXPECT_NE(text.find("wait_seconds_bucket{le=\"+Inf\"} " + std::to_string(total) + "\n"),
              std::string::npos);
    EXPECT_NE(text.find("wait_seconds_count " + std::to_string(total) + "\n"), std::string::npos);
    // 0.25 and 1.0 are exact in binary: the sum is exact too.
    EXPECT_NE(text.find("wait_seconds_sum " + std::to_string(total / 2 * 5 / 4) + "\n"),
              std::string::npos);
}

TEST(Metrics, SameFamilyFromTwoRegistrations) {
    MetricsRegistry registry;
    auto labels = names({"a", "b"});
    auto* first = must(registry.family(MetricType::gauge, "level", "Level.", labels));
    auto* second = must(registry.family(MetricType::gauge, "level", "Other help.", labels));
    EXPECT_EQ(first, second);
    std::string_view v[] = {"x", "y"};
    EXPECT_EQ(first->child(v), second->child(v));

    auto other_type = registry.family(MetricType::counter, "level", "Level.", labels);
    ASSERT_FALSE(other_type.ok());
    EXPECT_EQ(other_type.error().message, "counter 'level': already registered as a gauge");
    auto other_labels = registry.family(MetricType::gauge, "level", "Level.", names({"a"}));
    ASSERT_FALSE(other_labels.ok());
    EXPECT_EQ(other_labels.error().message,
              "gauge 'level': already registered with other label names");
    must(registry.family(MetricType::histogram, "lat_seconds", "L.", {}, std::vector{0.1, 1.0}));
    auto other_bounds =
        registry.family(MetricType::histogram, "lat_seconds", "L.", {}, std::vector{0.1});
    ASSERT_FALSE(other_bounds.ok());
    EXPECT_EQ(other_bounds.error().message,
              "histogram 'lat_seconds': already registered with other buckets");
}

TEST(Metrics, NamesFollowPrometheusRules) {
    MetricsRegistry registry;
    auto error = [&](MetricType type, const char* name, std::vector<std::string> labels = {},
                     const char* help = "Help.") {
        auto r = registry.family(type, name, help, labels);
        return r.ok() ? std::string("ok") : r.error().message;
    };
    EXPECT_EQ(error(MetricType::counter, "requests"),
              "counter name 'requests': a counter's name ends in '_total'");
    EXPECT_EQ(error(MetricType::gauge, "open_total"),
              "gauge name 'open_total': only a counter's name ends in '_total'");
    EXPECT_EQ(error(MetricType::gauge, "Open"),
              "gauge name 'Open': use lower-case letters, digits and '_', not starting with a "
              "digit");
    EXPECT_EQ(error(MetricType::gauge, "a:b"),
              "gauge name 'a:b': use lower-case letters, digits and '_', not starting with a "
              "digit");
    EXPECT_EQ(error(MetricType::gauge, "queue_count"),
              "gauge name 'queue_count': '_count' is reserved for histograms");
    EXPECT_EQ(error(MetricType::gauge, "queue_gauge"),
              "gauge name 'queue_gauge': the type ('gauge') does not belong in it");
    EXPECT_EQ(error(MetricType::counter, "encounters_total"), "ok") << "a type word only";
    EXPECT_EQ(error(MetricType::histogram, "wait_milliseconds"),
              "histogram name 'wait_milliseconds': use the base unit 'seconds', not "
              "'milliseconds'");
    EXPECT_EQ(error(MetricType::gauge, "heap_kilobytes"),
              "gauge name 'heap_kilobytes': use the base unit 'bytes', not 'kilobytes'");
    EXPECT_EQ(error(MetricType::histogram, "wait_ms"),
              "histogram name 'wait_ms': 'ms' is an abbreviated unit: spell it out, in base "
              "units (seconds, bytes)");
    EXPECT_EQ(error(MetricType::gauge, "x", {"le"}),
              "gauge 'x': label name 'le' is reserved for a histogram's buckets");
    EXPECT_EQ(error(MetricType::gauge, "x", {}, ""), "gauge 'x': help text is required");
    EXPECT_EQ(error(MetricType::gauge, "x", {"__x"}),
              "gauge 'x': label name '__x': use lower-case letters, digits and '_', not starting "
              "with a digit or '__'");
    EXPECT_EQ(error(MetricType::gauge, "x", {"a", "a"}), "gauge 'x': label 'a' appears twice");
    EXPECT_EQ(error(MetricType::histogram, "lag_seconds", {"le"}),
              "histogram 'lag_seconds': label name 'le' is reserved for a histogram's buckets");
    EXPECT_EQ(error(MetricType::gauge, "x", {"ok"}), "ok");
}

TEST(Metrics, TextEscapesLabelValuesAndHelp) {
    MetricsRegistry registry;
    auto* f =
        must(registry.family(MetricType::gauge, "odd", "Back\\slash and\nnewline.", names({"v"})));
    std::string_view v = "q\"b\\n\nend";
    f->child({&v, 1})->set(0.25);
    EXPECT_EQ(render(registry),
              "# HELP odd Back\\\\slash and\\nnewline.\n"
              "# TYPE odd gauge\n"
              "odd{v=\"q\\\"b\\\\n\\nend\"} 0.25\n"
              "# HELP skyhive_metrics_dropped_label_sets_total Label sets that found a family "
              "full (at its limit of children) and were counted in its _overflow child.\n"
              "# TYPE skyhive_metrics_dropped_label_sets_total counter\n");
}

TEST(Metrics, NumbersKeepTheirValue) {
    std::string out;
    for (double v : {0.0, 1.0, -3.0, 0.1, 1e21, 1.5e-7, 12345678901234.0})
        (MetricsText::append_number(out, v), out += ' ');
    MetricsText::append_number(out, 1.0 / 0.0);
    out += ' ';
    MetricsText::append_number(out, 0.0 / 0.0);
    EXPECT_EQ(out, "0 1 -3 0.1 1e+21 1.5e-07 12345678901234 +Inf NaN");
}

TEST(Metrics, AFullFamilyCountsWhatItDrops) {
    MetricsRegistry registry(3);
    auto* f = must(registry.family(MetricType::counter, "by_user_total", "Per user.",
                                   names({"user", "zone"})));
    std::vector<Metric*> kept;
    for (int i = 0; i < 10; ++i) {
        std::string user = "u" + std::to_string(i);
        std::string_view v[] = {user, "z"};
        Metric* m = f->child(v);
        m->add(1);
        if (i < 3) kept.push_back(m);
    }
    // Three children and the overflow child, however many label sets came.
    EXPECT_EQ(f->size(), 4u);
    EXPECT_EQ(f->dropped(), 7u);
    std::string_view again[] = {"u1", "z"};
    EXPECT_EQ(f->child(again), kept[1]) << "a known label set still finds its child";
    const std::string text = render(registry);
    EXPECT_NE(text.find("by_user_total{user=\"_overflow\",zone=\"_overflow\"} 7\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("skyhive_metrics_dropped_label_sets_total{family=\"by_user_total\"} 7\n"),
              std::string::npos)
        << text;
}

TEST(Metrics, CollectorsComeFirstAndReserveTheirNames) {
    MetricsRegistry registry;
    registry.add_collector({"node_up"}, [](MetricSink& sink) {
        sink.family("node_up", MetricType::gauge, "Up.", {});
        sink.value({}, 1);
    });
    must(registry.family(MetricType::gauge, "mine", "Mine.", {}))->child({})->set(2);
    auto taken = registry.family(MetricType::gauge, "node_up", "Up.", {});
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.error().message, "gauge 'node_up': the name belongs to a built-in metric");
    const std::string text = render(registry);
    EXPECT_LT(text.find("node_up 1\n"), text.find("mine 2\n")) << text;
}

}  // namespace
}  // namespace skyhive
