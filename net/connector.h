#pragma once

namespace skyhive::net {

class Resolver;
class SlotTable;
class SocketLoop;
struct Command;
struct Slot;

// Outgoing connects for the loop: a numeric host is tried at once, a host name goes to the
// Resolver thread and comes back as a `resolved` command (the loop never blocks on DNS). Each
// address is tried in turn on a fresh non-blocking socket until one connects; the owner then gets
// `connected`, or one `error` event naming the target and the last failure. Sends made while
// connecting stay queued and go out once connected.
//
// Owned by its SocketLoop. Identity type. Thread: socket thread only (asserted).
class Connector {
  public:
    Connector(SocketLoop& loop, SlotTable& slots, Resolver& resolver)
        : loop_(loop), slots_(slots), resolver_(resolver) {}
    Connector(const Connector&) = delete;
    Connector& operator=(const Connector&) = delete;

    // A `connect` command: the slot becomes a connecting TCP socket of the command's handle.
    void on_connect(const Command& c);
    // A `resolved` command from the Resolver: connects to the addresses, or fails the socket.
    void on_resolved(const Command& c);
    // The connecting socket's fd is writable: connected, or on to the next address.
    void on_writable(Slot& s);

  private:
    // Tries the addresses left, from the next one; fails the socket when none is left.
    void try_next(Slot& s);
    void connected(Slot& s);

    SocketLoop& loop_;
    SlotTable& slots_;
    Resolver& resolver_;
};

}  // namespace skyhive::net
