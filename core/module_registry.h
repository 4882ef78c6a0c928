#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/module.h"
#include "core/result.h"

namespace skyhive {

// Module factories by name: built-in C++ modules registered at start-up, and C modules loaded on
// first use with dlopen from the config's cpath ("./cservice/?.so;..."), through the C ABI in
// core/skyhive_module.h. A loaded library stays loaded until the registry dies.
// Thread: any.
class ModuleRegistry {
  public:
    ModuleRegistry() = default;
    ~ModuleRegistry();
    ModuleRegistry(const ModuleRegistry&) = delete;
    ModuleRegistry& operator=(const ModuleRegistry&) = delete;

    // Registers a built-in module. Returns false if the name is taken.
    bool add(std::string name, ModuleFactory factory);
    void set_cpath(std::string cpath);
    // Creates an instance of `name`; loads it from cpath when it is not built in.
    Result<std::unique_ptr<Module>> create(std::string_view name);
    std::vector<std::string> names() const;

  private:
    Result<ModuleFactory> load_c_module(std::string_view name);

    mutable std::mutex lock_;
    std::map<std::string, ModuleFactory, std::less<>> factories_;
    std::vector<void*> libraries_;
    std::string cpath_;
};

}  // namespace skyhive
