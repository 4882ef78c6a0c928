#include "core/service.h"

#include "core/node.h"

namespace skyhive {

bool Service::send(Handle dest, MessageType type, int32_t session, Payload payload) {
    return node_.send(handle(), dest, type, session, std::move(payload));
}

int32_t Service::timeout(int centiseconds) {
    int32_t session = new_session();
    node_.timeout(handle(), centiseconds, session);
    return session;
}

void Service::exit() {
    node_.kill(handle());
}

void Service::log(std::string_view text) {
    node_.log(handle(), LogLevel::info, text);
}

}  // namespace skyhive
