#include "services/builtin.h"

#include "core/node.h"
#include "lualib/native/cluster_codec.h"
#include "lualib/native/cluster_core.h"
#include "lualib/native/cluster_router.h"
#include "lualib/native/crypt.h"
#include "lualib/native/debug_core.h"
#include "lualib/native/http_parser_lua.h"
#include "lualib/native/metrics.h"
#include "lualib/native/redis_codec.h"
#include "lualib/native/sharedata.h"
#include "lualib/native/socket_driver.h"
#include "net/socket_server.h"
#include "redis/resp_framer.h"
#include "services/gate/gate.h"
#include "services/snlua/snlua.h"

namespace skyhive {

namespace {

// "resp": Redis replies cut on the socket thread. Options: max_bulk, max_elements (RespLimits).
Result<std::unique_ptr<net::Framer>> make_resp_framer(const FramerOptions& options) {
    redis::RespLimits limits;
    for (const auto& [key, value] : options) {
        if (value <= 0 || value > int64_t(UINT32_MAX))
            return Error{"resp framer: option " + key + " must be in 1..4294967295"};
        if (key == "max_bulk")
            limits.max_bulk = uint32_t(value);
        else if (key == "max_elements")
            limits.max_elements = uint32_t(value);
        else
            return Error{"resp framer: unknown option " + key};
    }
    return std::unique_ptr<net::Framer>(std::make_unique<redis::RespFramer>(limits));
}

// "cluster": node-to-node link frames (u32 big-endian length + body). Options: max_frame, the
// largest body accepted (262144 by default); assemble, the largest split message put together on
// the socket thread (off by default; the link's codec then needs `assembled`), with max_pending
// the bytes its incomplete ones may hold (4 * assemble by default); router, the id of a link
// connection's cluster::Router (skynet.cluster.core's router:id()), which then takes the answers
// that arrive in one frame straight to their callers (needs assemble).
Result<std::unique_ptr<net::Framer>> make_cluster_framer(const FramerOptions& options) {
    uint32_t max_frame = cluster::kDefaultMaxFrame;
    int64_t assemble = 0, max_pending = 0;
    std::shared_ptr<cluster::Router> router;
    for (const auto& [key, value] : options) {
        if (key == "router") {
            router = value > 0 ? cluster::Router::find(uint64_t(value)) : nullptr;
            if (!router)
                return Error{"cluster framer: option router: no router " + std::to_string(value) +
                             " (its link connection is gone)"};
            continue;
        }
        if (key == "max_frame") {
            if (value < 1 || value > int64_t(1) << 30)
                return Error{"cluster framer: option max_frame must be in 1..1073741824"};
            max_frame = uint32_t(value);
        } else if (key == "assemble" || key == "max_pending") {
            if (value < 1 || (key == "assemble" && value > int64_t(UINT32_MAX)))
                return Error{"cluster framer: option " + key + " must be a positive integer" +
                             (key == "assemble" ? " below 2^32" : "")};
            (key == "assemble" ? assemble : max_pending) = value;
        } else {
            return Error{"cluster framer: unknown option " + key};
        }
    }
    auto framer = std::make_unique<cluster::Framer>(max_frame);
    if (assemble > 0)
        framer->assemble(uint32_t(assemble),
                         max_pending > 0 ? uint64_t(max_pending) : 4 * uint64_t(assemble));
    if (router) {
        if (assemble == 0) return Error{"cluster framer: option router needs assemble"};
        framer->route_answers(std::move(router));
    }
    return std::unique_ptr<net::Framer>(std::move(framer));
}

}  // namespace

void register_builtin_modules(Node& node, SocketDriver* sockets) {
    auto lua = register_snlua(node);
    lua->add_native("skynet.debugcore", luaopen_skynet_debugcore);
    lua->add_native("skynet.crypt", luaopen_skynet_crypt);
    lua->add_native("skynet.metrics", luaopen_skynet_metrics);
    lua->add_native("skyhive.redis.codec", luaopen_skyhive_redis_codec);
    lua->add_native("skynet.sharedata.core", luaopen_skynet_sharedata_core);
    lua->add_native("skynet.cluster.core", luaopen_skynet_cluster_core);
    lua->add_native("skyhive.http.parser", luaopen_skyhive_http_parser);
    if (sockets) {
        sockets->add_framer("resp", make_resp_framer);
        sockets->add_framer("cluster", make_cluster_framer);
        node.modules().add("gate", [s = &sockets->server()] { return std::make_unique<Gate>(*s); });
        node.metrics().add_collector(
            {"skyhive_process_open_sockets"}, [s = &sockets->server()](MetricSink& sink) {
                sink.family("skyhive_process_open_sockets", MetricType::gauge,
                            "Sockets the socket server holds open (listeners included).", {});
                sink.value({}, double(s->socket_count()));
            });
        lua->set_socket_driver(sockets);
        lua->add_native("skynet.socketdriver", luaopen_skynet_socketdriver);
    }
}

}  // namespace skyhive
