# `cmake --install <build> --prefix PREFIX`: the node with everything it runs, laid out as the
# source tree is, so that one config works in both (config/default.lua says ../lualib/?.lua):
#   PREFIX/bin/skyhive
#   PREFIX/share/skyhive/config/*.lua          the configs a user runs (not the test configs)
#   PREFIX/share/skyhive/lualib/**.lua         the Lua library
#   PREFIX/share/skyhive/services/lua/*.lua    library services (bootstrap, launcher, console...)
#   PREFIX/share/skyhive/services/game/*.lua   the game
#   PREFIX/share/skyhive/services/admin/www/*  the dashboard's page, script, style and icon
#                                              (services/lua/admin.lua finds them beside it)
#   PREFIX/include/skyhive/skyhive_module.h    the C ABI of modules loaded from cpath
# A config's relative paths are taken from its own directory, so the installed node runs from
# any directory. services/main.cpp finds the default config at ../share/skyhive/config/ from the
# binary's directory: keep these two destinations in step with it.
# No C module (cpath) or Lua C library (lua_cpath) is built, so none is installed.

set(SKYHIVE_INSTALL_DATA share/skyhive)

install(TARGETS skyhive RUNTIME DESTINATION bin)
install(FILES
    ${PROJECT_SOURCE_DIR}/config/default.lua
    ${PROJECT_SOURCE_DIR}/config/echo.lua
    ${PROJECT_SOURCE_DIR}/config/node2.lua
    ${PROJECT_SOURCE_DIR}/config/sentinel.lua
    DESTINATION ${SKYHIVE_INSTALL_DATA}/config)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lualib/
    DESTINATION ${SKYHIVE_INSTALL_DATA}/lualib
    FILES_MATCHING PATTERN "*.lua"
    PATTERN native EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/services/lua ${PROJECT_SOURCE_DIR}/services/game
    DESTINATION ${SKYHIVE_INSTALL_DATA}/services
    FILES_MATCHING PATTERN "*.lua")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/services/admin/www
    DESTINATION ${SKYHIVE_INSTALL_DATA}/services/admin)
install(FILES ${PROJECT_SOURCE_DIR}/core/skyhive_module.h DESTINATION include/skyhive)
