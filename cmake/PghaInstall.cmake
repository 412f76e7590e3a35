# Install rules: headers, pgha::pgha, pgha::c, the CMake package (find_package(pgha)) and
# pkg-config files (pgha.pc for the C++ library, pgha-c.pc for the C ABI).
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/pgha DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/pgha/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pgha)
install(TARGETS pgha pgha_c EXPORT pghaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS pghactl pgha-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The systemd unit of the agent (one instance per node; its ExecStart names /usr/local/bin).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/pgha-agent@.service
        DESTINATION ${CMAKE_INSTALL_DATADIR}/pgha/systemd)

set(PGHA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pgha)
install(EXPORT pghaTargets NAMESPACE pgha:: DESTINATION ${PGHA_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pghaConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pghaConfig.cmake INSTALL_DESTINATION ${PGHA_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pghaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pghaConfig.cmake ${PROJECT_BINARY_DIR}/pghaConfigVersion.cmake
        DESTINATION ${PGHA_CMAKE_DIR})

if(BUILD_SHARED_LIBS)
  set(PGHA_PC_CFLAGS "")
else()
  set(PGHA_PC_CFLAGS "-DPGHA_STATIC")
endif()
# Relocatable: the prefix is found from the .pc file's own place.
file(RELATIVE_PATH PGHA_PC_PREFIX_REL "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${PROJECT_SOURCE_DIR}/cmake/pgha.pc.in ${PROJECT_BINARY_DIR}/pgha.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/pgha-c.pc.in ${PROJECT_BINARY_DIR}/pgha-c.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pgha.pc ${PROJECT_BINARY_DIR}/pgha-c.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
