#pragma once

namespace skyhive {

class Node;

// Registers every module compiled into the skyhive binary with the node.
void register_builtin_modules(Node& node);

}  // namespace skyhive
