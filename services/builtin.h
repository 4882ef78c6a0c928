#pragma once

namespace skyhive {

class Node;
class SocketDriver;

// Registers every module compiled into the skyhive binary with the node, and the C modules Lua
// services may require (skynet.core, skynet.debugcore, ...). With `sockets`, Lua services also
// get skynet.socketdriver over it and the "resp" framer is registered; it is borrowed and must
// outlive every service of the node. Thread: the node's owner, before node.start().
void register_builtin_modules(Node& node, SocketDriver* sockets = nullptr);

}  // namespace skyhive
