#include "services/builtin.h"

#include "core/node.h"
#include "services/demo.h"
#include "services/snlua/snlua.h"

namespace skyhive {

void register_builtin_modules(Node& node) {
    node.modules().add("demo", make_demo);
    node.modules().add("demo_bouncer", make_demo_bouncer);
    register_snlua(node);
}

}  // namespace skyhive
