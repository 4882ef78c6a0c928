#include "core/module_registry.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/node.h"
#include "test/core/test_support.h"

namespace skyhive {
namespace {

// Where test/core/cmodule puts the sample modules: echo_c.so, badabi.so, nosym.so, undef.so.
const std::string kDir = SKYHIVE_TEST_CSERVICE_DIR;

// A variable exported by a loaded sample module, reached through a second reference to the
// library (RTLD_NOLOAD: never loads it). Valid while the registry that loaded it lives.
template <class T>
T* module_var(const std::string& module, const char* var) {
    std::string path = kDir + "/" + module + ".so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!lib) return nullptr;
    void* sym = dlsym(lib, var);
    dlclose(lib);
    return static_cast<T*>(sym);
}

std::string create_error(ModuleRegistry& reg, std::string_view name) {
    Result<std::unique_ptr<Module>> m = reg.create(name);
    EXPECT_FALSE(m.ok()) << "module '" << name << "' was created";
    return m.ok() ? std::string() : m.error().message;
}

TEST(ModuleRegistry, BuiltInModules) {
    ModuleRegistry reg;
    int made = 0;
    EXPECT_TRUE(reg.add("counted", [&made] {
        ++made;
        return std::make_unique<test::FnModule>();
    }));
    EXPECT_FALSE(reg.add("counted", [] { return std::make_unique<test::FnModule>(); }));
    EXPECT_TRUE(reg.add("broken", [] { return std::unique_ptr<Module>(); }));

    Result<std::unique_ptr<Module>> a = reg.create("counted");
    Result<std::unique_ptr<Module>> b = reg.create("counted");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->get(), b->get());
    EXPECT_EQ(made, 2);  // the first factory stayed registered
    EXPECT_EQ(create_error(reg, "broken"), "module 'broken': create() returned no instance");
    EXPECT_EQ(reg.names(), (std::vector<std::string>{"broken", "counted"}));
}

TEST(ModuleRegistry, UnknownNameWithoutCpath) {
    ModuleRegistry reg;
    EXPECT_EQ(create_error(reg, "echo_c"), "module 'echo_c' is not built in, and no cpath is set");
}

TEST(ModuleRegistry, MissingModuleNamesTheCpath) {
    ModuleRegistry reg;
    std::string cpath = kDir + "/lib?.so;" + kDir + "/?.so";
    reg.set_cpath(cpath);
    EXPECT_EQ(create_error(reg, "nothere"), "module 'nothere' not found in cpath '" + cpath + "'");
    // A name is a C identifier: it can neither climb out of a cpath directory nor name a symbol
    // that cannot exist.
    EXPECT_EQ(create_error(reg, "../cservice/echo_c"),
              "module '../cservice/echo_c' is not built in, and is no C module name (letters, "
              "digits and '_' only)");
    EXPECT_TRUE(reg.names().empty());
}

TEST(ModuleRegistry, LoadsFromTheFirstMatchingPattern) {
    ModuleRegistry reg;
    reg.set_cpath(kDir + "/none/?.so;;" + kDir + "/?.so");
    Result<std::unique_ptr<Module>> a = reg.create("echo_c");
    ASSERT_TRUE(a.ok()) << a.error().message;
    Result<std::unique_ptr<Module>> b = reg.create("echo_c");
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_NE(a->get(), b->get());
    EXPECT_EQ(reg.names(), std::vector<std::string>{"echo_c"});

    // Every instance is released exactly once, even one dropped without init().
    int* releases = module_var<int>("echo_c", "echo_c_releases");
    ASSERT_NE(releases, nullptr);
    int before = *releases;
    a.value().reset();
    EXPECT_EQ(*releases, before + 1);
    b.value().reset();
    EXPECT_EQ(*releases, before + 2);
}

TEST(ModuleRegistry, LibraryWithoutEntryPoint) {
    ModuleRegistry reg;
    reg.set_cpath(kDir + "/?.so");
    EXPECT_EQ(create_error(reg, "nosym"),
              "module 'nosym' (" + kDir + "/nosym.so): does not export skyhive_module_nosym()");
}

TEST(ModuleRegistry, WrongAbiVersion) {
    ModuleRegistry reg;
    reg.set_cpath(kDir + "/?.so");
    std::string expected =
        "module 'badabi' (" + kDir + "/badabi.so): wrong ABI version 2, expected 1";
    EXPECT_EQ(create_error(reg, "badabi"), expected);
    EXPECT_EQ(create_error(reg, "badabi"), expected);  // a failed load is not remembered as good
    EXPECT_TRUE(reg.names().empty());
}

TEST(ModuleRegistry, LoaderErrorIsPassedOn) {
    ModuleRegistry reg;
    reg.set_cpath(kDir + "/?.so");
    std::string e = create_error(reg, "undef");
    EXPECT_EQ(e.rfind("module 'undef': " + kDir + "/undef.so: ", 0), 0u) << e;
    EXPECT_NE(e.find("undefined symbol: skyhive_no_such_function"), std::string::npos) << e;
}

TEST(ModuleRegistry, ConcurrentFirstUse) {
    ModuleRegistry reg;
    reg.set_cpath(kDir + "/?.so");
    constexpr int kThreads = 4;
    std::vector<std::unique_ptr<Module>> made(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            Result<std::unique_ptr<Module>> m = reg.create("echo_c");
            if (m.ok()) made[size_t(i)] = std::move(m).value();
        });
    }
    for (std::thread& t : threads)
        t.join();
    for (const auto& m : made)
        EXPECT_NE(m, nullptr);
    EXPECT_EQ(reg.names(), std::vector<std::string>{"echo_c"});
}

// Records every message it receives.
struct Inbox {
    std::mutex lock;
    std::vector<Message> messages;
    size_t size() {
        std::lock_guard guard(lock);
        return messages.size();
    }
};

TEST(CModule, EchoesThroughALiveNode) {
    Node node(test::quiet_options());
    node.modules().set_cpath(kDir + "/?.so");
    Inbox inbox;
    test::add_fn_module(node, "inbox", [&inbox](Service&, Message& m) {
        std::lock_guard guard(inbox.lock);
        inbox.messages.push_back(std::move(m));
    });
    ASSERT_TRUE(node.start());

    Result<Handle> echo = node.launch("echo_c", "hello args");
    ASSERT_TRUE(echo.ok()) << echo.error().message;
    const char* args = module_var<const char>("echo_c", "echo_c_last_args");
    ASSERT_NE(args, nullptr);
    EXPECT_STREQ(args, "hello args");
    int* releases = module_var<int>("echo_c", "echo_c_releases");
    ASSERT_NE(releases, nullptr);
    int releases_before = *releases;

    Handle me = node.launch("inbox", "").value();
    ASSERT_TRUE(node.send(me, *echo, MessageType::lua, 42, Payload::copy("ping")));
    ASSERT_TRUE(node.send(me, *echo, MessageType::text, 0, Payload::copy("notice")));
    ASSERT_TRUE(test::wait_until([&] { return inbox.size() >= 2; }));
    {
        std::lock_guard guard(inbox.lock);
        ASSERT_EQ(inbox.messages.size(), 2u);
        const Message& reply = inbox.messages[0];
        EXPECT_EQ(reply.source, *echo);
        EXPECT_EQ(reply.type, MessageType::response);
        EXPECT_EQ(reply.session, 42);
        EXPECT_EQ(reply.payload.view(), "ping");
        const Message& notice = inbox.messages[1];
        EXPECT_EQ(notice.source, *echo);
        EXPECT_EQ(notice.type, MessageType::text);
        EXPECT_EQ(notice.session, 0);
        EXPECT_EQ(notice.payload.view(), "notice");
    }

    // A failing init() aborts the launch, and that instance is still released.
    Result<Handle> failed = node.launch("echo_c", "fail");
    EXPECT_FALSE(failed.ok());
    node.shutdown();
    EXPECT_EQ(*releases, releases_before + 2);
}

}  // namespace
}  // namespace skyhive
