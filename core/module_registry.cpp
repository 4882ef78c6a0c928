#include "core/module_registry.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/node.h"
#include "core/service.h"
#include "core/skyhive_module.h"

// What a C module sees as its context: the service, and the callback it registered. Lives inside
// the CModule adapter, so its address is stable for the whole life of the instance.
struct skyhive_context {
    skyhive::Service* service = nullptr;  // borrowed; null until init()
    void* ud = nullptr;
    skyhive_cb cb = nullptr;
};

namespace skyhive {
namespace {

// Adapts one instance of a C module to the Module interface.
// Thread: as Module; the C functions inherit its contract (see core/skyhive_module.h).
class CModule final : public Module {
  public:
    CModule(std::string name, const skyhive_module_api* api, void* inst)
        : name_(std::move(name)), api_(api), inst_(inst) {}
    CModule(const CModule&) = delete;
    CModule& operator=(const CModule&) = delete;
    // The C side is promised exactly one release() per instance, even when init failed or
    // never ran and the node just drops the module.
    ~CModule() override { finish(); }

    bool init(Service& self, std::string_view args) override {
        ctx_.service = &self;
        std::string text(args);  // the C side wants it NUL-terminated
        return api_->init(inst_, &ctx_, text.c_str()) == 0;
    }

    void on_message(Service& self, Message& msg) override {
        if (!ctx_.cb) {
            self.log("C module '" + name_ + "' set no callback; dropped a " + to_string(msg.type) +
                     " message");
            return;
        }
        int kept = ctx_.cb(&ctx_, ctx_.ud, int(msg.type), msg.session, msg.source.value,
                           msg.payload.data(), msg.payload.size());
        if (kept) (void)msg.payload.release();  // the module frees it now
    }

    void signal(int sig) override {
        if (api_->signal) api_->signal(inst_, sig);
    }

    void release(Service& self) override {
        ctx_.service = &self;
        finish();
    }

  private:
    void finish() {
        if (released_) return;
        released_ = true;
        if (api_->release) api_->release(inst_);
        ctx_.cb = nullptr;
    }

    std::string name_;
    const skyhive_module_api* api_;  // static data of a library the registry keeps loaded
    void* inst_;
    skyhive_context ctx_;
    bool released_ = false;
};

bool is_c_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

ModuleRegistry::~ModuleRegistry() {
    // The owner destroys every instance first (Node releases its services before this member).
    for (void* lib : libraries_)
        dlclose(lib);
}

bool ModuleRegistry::add(std::string name, ModuleFactory factory) {
    std::lock_guard guard(lock_);
    return factories_.emplace(std::move(name), std::move(factory)).second;
}

void ModuleRegistry::set_cpath(std::string cpath) {
    std::lock_guard guard(lock_);
    cpath_ = std::move(cpath);
}

Result<std::unique_ptr<Module>> ModuleRegistry::create(std::string_view name) {
    ModuleFactory factory;
    {
        std::lock_guard guard(lock_);
        if (auto it = factories_.find(name); it != factories_.end()) {
            factory = it->second;
        } else {
            Result<ModuleFactory> loaded = load_c_module(name);
            if (!loaded) return loaded.error();
            factory = std::move(loaded.value());
        }
    }
    // Outside the lock: a factory runs module code, which may be slow or launch services.
    std::unique_ptr<Module> module = factory();
    if (!module) return Error{"module '" + std::string(name) + "': create() returned no instance"};
    return module;
}

std::vector<std::string> ModuleRegistry::names() const {
    std::lock_guard guard(lock_);
    std::vector<std::string> out;
    out.reserve(factories_.size());
    for (const auto& [name, factory] : factories_)
        out.push_back(name);
    return out;
}

// Called with lock_ held, so one name is loaded once even when launched from many threads.
Result<ModuleFactory> ModuleRegistry::load_c_module(std::string_view name) {
    std::string n(name);
    if (!is_c_name(name)) {
        return Error{"module '" + n + "' is not built in, and is no C module name (letters, " +
                     "digits and '_' only)"};
    }
    if (cpath_.empty()) return Error{"module '" + n + "' is not built in, and no cpath is set"};

    for (size_t start = 0; start <= cpath_.size();) {
        size_t end = cpath_.find(';', start);
        if (end == std::string::npos) end = cpath_.size();
        std::string path = cpath_.substr(start, end - start);
        start = end + 1;
        if (path.empty()) continue;
        for (size_t q = path.find('?'); q != std::string::npos; q = path.find('?', q + n.size())) {
            path.replace(q, 1, n);
        }
        // Without a '/', dlopen would search the system library path instead of this directory.
        if (path.find('/') == std::string::npos) path = "./" + path;
        // A missing file means "try the next pattern"; a file that fails to load is an error.
        if (access(path.c_str(), F_OK) != 0) continue;

        void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) return Error{"module '" + n + "': " + dlerror()};
        std::string symbol = "skyhive_module_" + n;
        using Entry = const skyhive_module_api* (*)();
        auto entry = reinterpret_cast<Entry>(dlsym(lib, symbol.c_str()));
        const skyhive_module_api* api = entry ? entry() : nullptr;
        std::string problem;
        if (!entry) {
            problem = "does not export " + symbol + "()";
        } else if (!api) {
            problem = symbol + "() returned NULL";
        } else if (api->abi_version != SKYHIVE_MODULE_ABI) {
            problem = "wrong ABI version " + std::to_string(api->abi_version) + ", expected " +
                      std::to_string(SKYHIVE_MODULE_ABI);
        } else if (!api->init) {
            problem = "its module table has no init function";
        }
        if (!problem.empty()) {
            dlclose(lib);
            return Error{"module '" + n + "' (" + path + "): " + problem};
        }
        libraries_.push_back(lib);
        ModuleFactory factory = [n, api]() -> std::unique_ptr<Module> {
            void* inst = nullptr;
            if (api->create && !(inst = api->create())) return nullptr;
            return std::make_unique<CModule>(n, api, inst);
        };
        factories_.emplace(n, factory);
        return factory;
    }
    return Error{"module '" + n + "' not found in cpath '" + cpath_ + "'"};
}

}  // namespace skyhive

// The host side of the C ABI. A context without a service (init() not yet called) makes every
// call a harmless no-op or failure rather than a crash inside the host.
using skyhive::Service;

extern "C" {

uint32_t skyhive_handle(skyhive_context* ctx) {
    return ctx->service ? ctx->service->handle().value : 0;
}

void skyhive_callback(skyhive_context* ctx, void* ud, skyhive_cb cb) {
    ctx->ud = ud;
    ctx->cb = cb;
}

int skyhive_send_owned(skyhive_context* ctx, uint32_t dest, int type, int session, void* msg,
                       size_t sz) {
    if (!ctx->service || type < 0 || type > 255 || sz > UINT32_MAX) {
        std::free(msg);
        return -1;
    }
    skyhive::Payload payload = skyhive::Payload::adopt(sz ? msg : nullptr, uint32_t(sz));
    if (!sz) std::free(msg);
    bool sent = ctx->service->send(skyhive::Handle(dest), skyhive::MessageType(type),
                                   int32_t(session), std::move(payload));
    return sent ? 0 : -1;
}

int skyhive_send(skyhive_context* ctx, uint32_t dest, int type, int session, const void* msg,
                 size_t sz) {
    if (!ctx->service || type < 0 || type > 255 || sz > UINT32_MAX || (!msg && sz)) return -1;
    bool sent = ctx->service->send(skyhive::Handle(dest), skyhive::MessageType(type),
                                   int32_t(session), skyhive::Payload::copy(msg, sz));
    return sent ? 0 : -1;
}

int skyhive_new_session(skyhive_context* ctx) {
    return ctx->service ? ctx->service->new_session() : 0;
}

int skyhive_timeout(skyhive_context* ctx, int centiseconds) {
    return ctx->service ? ctx->service->timeout(centiseconds) : 0;
}

uint32_t skyhive_query(skyhive_context* ctx, const char* address) {
    if (!ctx->service || !address) return 0;
    return ctx->service->node().resolve(address).value;
}

uint64_t skyhive_now(skyhive_context* ctx) {
    return ctx->service ? ctx->service->node().now() : 0;
}

void skyhive_log(skyhive_context* ctx, const char* text) {
    if (ctx->service && text) ctx->service->log(text);
}

void skyhive_exit(skyhive_context* ctx) {
    if (ctx->service) ctx->service->exit();
}

}  // extern "C"
