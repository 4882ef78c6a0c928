#pragma once

// What one node of a Redis Cluster says about the cluster (CLUSTER NODES), parsed, and the slot
// map it implies. For the test harness (cluster_topology.*).
// Thread: any; no state.

#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace skyhive::test {

constexpr int kClusterSlots = 16384;

// One line of CLUSTER NODES as a node sees it.
struct ClusterNode {
    std::string id;
    int port = 0;
    std::string flags;      // "myself,master", "slave", "master,fail"...
    std::string master_id;  // "-" for a master
    bool master = false;
    bool failed = false;  // flagged "fail" (the cluster agreed it is down), not "fail?"
    bool usable = true;   // not failed, not in handshake, has an address
    int slot_count = 0;
    std::vector<std::pair<int, int>> slots;  // owned ranges, inclusive; open slots left out
};

// Parses the text of CLUSTER NODES (from host 127.0.0.1). An error names the bad line.
Result<std::vector<ClusterNode>> parse_cluster_nodes(const std::string& text);

// Slot -> the port of its owner in that view (0 = unassigned); kClusterSlots entries.
std::vector<int> slot_owners(const std::vector<ClusterNode>& view);

// The node with that port in the view, or nullptr.
const ClusterNode* find_node(const std::vector<ClusterNode>& view, int port);

}  // namespace skyhive::test
