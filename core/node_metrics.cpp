#include "core/node_metrics.h"

#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/memory_stats.h"
#include "core/node.h"

namespace skyhive {
namespace {

void gauge(MetricSink& sink, const char* name, const char* help, double v) {
    sink.family(name, MetricType::gauge, help, {});
    sink.value({}, v);
}

void counter(MetricSink& sink, const char* name, const char* help, double v) {
    sink.family(name, MetricType::counter, help, {});
    sink.value({}, v);
}

void report_node(Node& node, MetricSink& sink) {
    gauge(sink, "skyhive_node_start_time_seconds", "When the node started (Unix time).",
          double(node.starttime()));
    gauge(sink, "skyhive_node_uptime_seconds", "Seconds since the node started.",
          double(node.now()) / 100);
    gauge(sink, "skyhive_node_workers", "Worker threads running services.",
          double(node.options().threads));
    gauge(sink, "skyhive_node_services", "Live services.", double(node.service_count()));
    counter(sink, "skyhive_node_messages_total", "Messages run by the node's services.",
            double(node.messages_processed()));
    gauge(sink, "skyhive_node_global_queue_length",
          "Services with messages waiting in the global queue for a worker.",
          double(node.global_queue_length()));
    counter(sink, "skyhive_node_monitor_reports_total",
            "Messages the monitor reported as running too long (endless loops).",
            double(node.monitor_reports()));
}

// One service's figures, copied under Node::for_each_service and written family by family.
struct Row {
    char address[12];
    std::string name;
    std::string module;
    uint64_t messages;
    uint64_t cycles;
    size_t mailbox;
    long long memory;  // -1: not a Lua service
};

// The label "name": the service's first registered name, else its Lua script (the first word of
// snlua's args), else its module. A ".critical.<handle>" name only marks a service whose death
// stops the node (services/game), so it is passed over.
std::string service_name(const Service& s, const std::vector<std::pair<std::string, Handle>>& names,
                         const std::vector<size_t>& by_handle) {
    auto it = std::lower_bound(by_handle.begin(), by_handle.end(), s.handle().value,
                               [&](size_t i, uint32_t h) { return names[i].second.value < h; });
    for (; it != by_handle.end() && names[*it].second == s.handle(); ++it)
        if (names[*it].first.rfind(".critical.", 0) != 0) return names[*it].first;
    if (s.module_name() == "snlua") {
        const std::string& args = s.args();
        return args.substr(0, args.find(' '));
    }
    return s.module_name();
}

void report_services(Node& node, MetricSink& sink) {
    thread_local std::vector<Row> rows;  // reused: a scrape allocates little once warm
    rows.clear();
    const auto names = node.names();
    std::vector<size_t> by_handle(names.size());  // indices of names, by handle then name
    for (size_t i = 0; i < names.size(); ++i)
        by_handle[i] = i;
    std::stable_sort(by_handle.begin(), by_handle.end(), [&](size_t a, size_t b) {
        return names[a].second.value < names[b].second.value;
    });
    node.for_each_service([&](Service& s) {
        Row& r = rows.emplace_back();
        std::snprintf(r.address, sizeof r.address, ":%08x", s.handle().value);
        r.name = service_name(s, names, by_handle);
        r.module = s.module_name();
        r.messages = s.stats().messages.load(std::memory_order_relaxed);
        r.cycles = s.stats().cpu_cycles.load(std::memory_order_relaxed);
        r.mailbox = s.mailbox_length();
        r.memory = s.memory();
    });

    static const std::string labels[] = {"address", "name", "module"};
    auto each = [&](auto&& value, bool lua_only = false) {
        for (const Row& r : rows) {
            if (lua_only && r.memory < 0) continue;
            std::string_view v[] = {r.address, r.name, r.module};
            sink.value(v, value(r));
        }
    };
    sink.family("skyhive_service_messages_total", MetricType::counter,
                "Messages the service has run.", labels);
    each([](const Row& r) { return double(r.messages); });
    sink.family("skyhive_service_cpu_seconds_total", MetricType::counter,
                "Time the service's messages have run on a worker.", labels);
    const double ns_per = ns_per_cycle() / 1e9;
    each([&](const Row& r) { return double(r.cycles) * ns_per; });
    sink.family("skyhive_service_mailbox_length", MetricType::gauge,
                "Messages waiting in the service's mailbox.", labels);
    each([](const Row& r) { return double(r.mailbox); });
    sink.family("skyhive_service_lua_memory_bytes", MetricType::gauge,
                "Memory held by the Lua state of a Lua service.", labels);
    each([](const Row& r) { return double(r.memory); }, true);
}

void report_process(MetricSink& sink) {
    gauge(sink, "skyhive_process_resident_memory_bytes", "Resident set size of the process.",
          double(process_rss()));
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    counter(sink, "skyhive_process_cpu_seconds_total", "CPU time of the process, user and system.",
            double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
    if (auto stats = allocator_stats()) {
        gauge(sink, "skyhive_process_jemalloc_allocated_bytes",
              "Bytes jemalloc has handed to the program.", double(stats->allocated));
        gauge(sink, "skyhive_process_jemalloc_active_bytes", "Bytes in jemalloc's active pages.",
              double(stats->active));
        gauge(sink, "skyhive_process_jemalloc_resident_bytes",
              "Bytes of resident pages jemalloc holds.", double(stats->resident));
    }
}

void report_board(Node& node, MetricSink& sink) {
    static const std::string label[] = {"topic"};
    sink.family("skyhive_metrics_board_dropped_keys_total", MetricType::counter,
                "Status board keys dropped to make room in a full topic.", label);
    for (const auto& [topic, n] : node.board().dropped()) {
        std::string_view value = topic;
        sink.value({&value, 1}, double(n));
    }
}

}  // namespace

void add_node_metrics(Node& node) {
    MetricsRegistry& registry = node.metrics();
    registry.add_collector(
        {"skyhive_node_start_time_seconds", "skyhive_node_uptime_seconds", "skyhive_node_workers",
         "skyhive_node_services", "skyhive_node_messages_total", "skyhive_node_global_queue_length",
         "skyhive_node_monitor_reports_total"},
        [&node](MetricSink& sink) { report_node(node, sink); });
    registry.add_collector({"skyhive_service_messages_total", "skyhive_service_cpu_seconds_total",
                            "skyhive_service_mailbox_length", "skyhive_service_lua_memory_bytes"},
                           [&node](MetricSink& sink) { report_services(node, sink); });
    registry.add_collector(
        {"skyhive_process_resident_memory_bytes", "skyhive_process_cpu_seconds_total",
         "skyhive_process_jemalloc_allocated_bytes", "skyhive_process_jemalloc_active_bytes",
         "skyhive_process_jemalloc_resident_bytes"},
        [](MetricSink& sink) { report_process(sink); });
    registry.add_collector({"skyhive_metrics_board_dropped_keys_total"},
                           [&node](MetricSink& sink) { report_board(node, sink); });
}

}  // namespace skyhive
