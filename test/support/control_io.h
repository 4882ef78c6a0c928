#pragma once

// The small pieces of a line-protocol control server shared by the test tools (redis_lab,
// with_sentinel, with_cluster, with_nodes): a loopback listener, a blocking write, a Redis
// request parser and the replies.
// Thread: any; no state.

#include <string>
#include <vector>

#include "core/result.h"

namespace skyhive::test {

// A listener on 127.0.0.1 with a kernel-chosen port; returns the fd (-1 on failure) and sets
// *port.
int listen_any(int* port, int backlog = 64);

// Writes all of s to a blocking fd; gives up silently when the peer is gone (its reader notices).
void write_all(int fd, const std::string& s);

// Parses one request (multibulk, or inline: words separated by spaces) from the front of `in`.
// Returns false while it is incomplete; on success removes it from `in` and fills argv.
bool parse_request(std::string& in, std::vector<std::string>& argv);

// s in ASCII upper case: a request's command word, a name compared without case.
std::string upper(std::string s);

// RESP replies: "-ERR <text>" (line breaks in text turned into spaces), "+OK" or "-ERR <prefix>
// <r's error>", and ":<v>".
std::string error_reply(std::string text);
std::string ok_or_error(const Result<void>& r, const std::string& prefix = "");
std::string integer_reply(long long v);

}  // namespace skyhive::test
