#include "test/support/cluster_nodes.h"

#include <cstdlib>
#include <sstream>

namespace skyhive::test {

Result<std::vector<ClusterNode>> parse_cluster_nodes(const std::string& text) {
    std::vector<ClusterNode> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;)
            w.push_back(x);
        if (w.size() < 8) return Error{"CLUSTER NODES: short line '" + line + "'"};
        ClusterNode n;
        n.id = w[0];
        size_t colon = w[1].find(':');
        if (colon == std::string::npos)
            return Error{"CLUSTER NODES: no address in line '" + line + "'"};
        n.port = std::atoi(w[1].c_str() + colon + 1);
        n.flags = w[2];
        n.master_id = w[3];
        std::string f = "," + n.flags + ",";
        n.master = f.find(",master,") != std::string::npos;
        n.failed = f.find(",fail,") != std::string::npos;
        n.usable = !n.failed && f.find(",handshake,") == std::string::npos &&
                   f.find(",noaddr,") == std::string::npos && n.port > 0;
        for (size_t i = 8; i < w.size(); ++i) {
            if (w[i].empty() || w[i][0] == '[') continue;  // a migrating / importing slot
            size_t dash = w[i].find('-');
            int lo = std::atoi(w[i].c_str());
            int hi = dash == std::string::npos ? lo : std::atoi(w[i].c_str() + dash + 1);
            if (lo < 0 || hi < lo || hi >= kClusterSlots)
                return Error{"CLUSTER NODES: bad slot range '" + w[i] + "'"};
            n.slots.emplace_back(lo, hi);
            n.slot_count += hi - lo + 1;
        }
        out.push_back(std::move(n));
    }
    return out;
}

std::vector<int> slot_owners(const std::vector<ClusterNode>& view) {
    std::vector<int> owners(kClusterSlots, 0);
    for (const auto& n : view)
        for (auto [lo, hi] : n.slots)
            for (int s = lo; s <= hi && s < kClusterSlots; ++s)
                owners[size_t(s)] = n.port;
    return owners;
}

const ClusterNode* find_node(const std::vector<ClusterNode>& view, int port) {
    for (const auto& n : view)
        if (n.port == port) return &n;
    return nullptr;
}

}  // namespace skyhive::test
