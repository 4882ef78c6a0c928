#pragma once

namespace skyhive {

class Node;

// Adds to node.metrics() the collectors of what the node keeps anyway, read at scrape time:
//   node:    skyhive_node_* (start time, uptime, workers, services, messages, global queue
//            length, monitor reports);
//   service: skyhive_service_* with labels address, name, module (messages, CPU seconds, mailbox
//            length, Lua memory);
//   process: skyhive_process_* (resident memory, CPU seconds, jemalloc's allocated, active and
//            resident bytes);
//   the status board's dropped keys per topic.
// docs/operations.md ("Metrics") lists them with their meaning. Thread: the node's constructor.
void add_node_metrics(Node& node);

}  // namespace skyhive
