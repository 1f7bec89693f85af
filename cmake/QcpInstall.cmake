# Installing qcp (included at the end of the top CMakeLists.txt, after every target exists).
#   runtime component: bin/qcp, its man page, its bash completion          -> qcp_<ver>_<arch>.deb
#   dev component:     the static libraries, include/qcp, the CMake package -> qcp-dev_<ver>_<arch>.deb
# `cmake --install build [--prefix DIR]` installs both; `cpack -G DEB` in build/ makes both packages.
include(GNUInstallDirs)
# `make install` and cpack install what is built instead of first building every target (the test
# suites included): the package holds only qcp, its libraries and files, all built by default.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
include(CMakePackageConfigHelpers)

set(QCP_MODULES core ir onnx_io engine decomp quant rewrite data pipeline)

# qcp::qcp, every module in one target (linking the pipeline links the others; listed for clarity).
add_library(qcp_library INTERFACE)
foreach(module ${QCP_MODULES})
  target_link_libraries(qcp_library INTERFACE qcp_${module})
  set_target_properties(qcp_${module} PROPERTIES EXPORT_NAME ${module})
  add_library(qcp::${module} ALIAS qcp_${module})
endforeach()
set_target_properties(qcp_library PROPERTIES EXPORT_NAME qcp)
add_library(qcp::qcp ALIAS qcp_library)
# Only a -DQCP_NATIVE=ON build must be used with the same flag: Eigen's inline code in the headers
# otherwise differs (vector width) between the libraries and the user's code. The portable default
# needs no flag; Eigen's alignment comes with qcp_core's definitions (cmake/QcpIsa.cmake).
if(QCP_NATIVE AND QCP_HAS_MARCH_NATIVE)
  target_compile_options(qcp_core INTERFACE $<INSTALL_INTERFACE:-march=native>)
endif()

install(TARGETS qcp RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
list(TRANSFORM QCP_MODULES PREPEND qcp_ OUTPUT_VARIABLE qcp_module_targets)
install(TARGETS ${qcp_module_targets} qcp_library EXPORT qcpTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qcp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
set(QCP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qcp)
install(EXPORT qcpTargets NAMESPACE qcp:: DESTINATION ${QCP_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/qcpConfig.cmake.in ${PROJECT_BINARY_DIR}/qcpConfig.cmake
                              INSTALL_DESTINATION ${QCP_CMAKE_DIR})
# 0.x: a minor version may change the API, so only the same major.minor matches
write_basic_package_version_file(${PROJECT_BINARY_DIR}/qcpConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/qcpConfig.cmake ${PROJECT_BINARY_DIR}/qcpConfigVersion.cmake
        DESTINATION ${QCP_CMAKE_DIR} COMPONENT dev)

# man qcp: generated from the binary's --help by help2man (cmake/qcp_man.cmake)
find_program(QCP_HELP2MAN help2man)
if(QCP_HELP2MAN)
  set(QCP_MAN_PAGE ${PROJECT_BINARY_DIR}/qcp.1.gz)
  add_custom_command(OUTPUT ${QCP_MAN_PAGE}
                     COMMAND ${CMAKE_COMMAND} -DQCP=$<TARGET_FILE:qcp> -DHELP2MAN=${QCP_HELP2MAN}
                             -DOUT=${QCP_MAN_PAGE} -P ${CMAKE_CURRENT_LIST_DIR}/qcp_man.cmake
                     DEPENDS qcp ${CMAKE_CURRENT_LIST_DIR}/qcp_man.cmake
                     COMMENT "Generating the man page qcp.1 (help2man)" VERBATIM)
  add_custom_target(qcp_man ALL DEPENDS ${QCP_MAN_PAGE})
  install(FILES ${QCP_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
else()
  message(WARNING "help2man not found (tools/install_deps.sh installs it): no man page is built or installed")
endif()
install(FILES ${PROJECT_SOURCE_DIR}/tools/completion/qcp.bash RENAME qcp
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT runtime)

# CPack: one .deb per component. The runtime package's Depends come from dpkg-shlibdeps on bin/qcp
# (the Debian libraries it links: libprotobuf32, libonnx1, libspdlog1.10, libgomp1, zlib1g, ...);
# qcp-dev depends on qcp's version of the runtime package's libraries through the -dev packages
# tagged `dev` in tools/debian-packages.txt, the one list of Debian packages.
file(STRINGS ${PROJECT_SOURCE_DIR}/tools/debian-packages.txt qcp_package_lines REGEX "^[^#]")
set(qcp_dev_depends "")
foreach(line ${qcp_package_lines})
  string(REGEX REPLACE "#.*" "" line "${line}")
  separate_arguments(fields UNIX_COMMAND "${line}")
  list(POP_FRONT fields package)
  if("dev" IN_LIST fields)
    list(APPEND qcp_dev_depends ${package})
  endif()
endforeach()
list(JOIN qcp_dev_depends ", " qcp_dev_depends)

set(CPACK_PACKAGE_NAME qcp)
set(CPACK_PACKAGE_VENDOR qcp)
set(CPACK_PACKAGE_CONTACT "qcp maintainers <qcp@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "post-training compression of ONNX models (quantized CP factorization, PQ, RTN/GPTQ)")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME qcp)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION science)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME qcp-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${qcp_dev_depends}")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "The qcp command, its man page and its bash completion.")
set(CPACK_COMPONENT_DEV_DESCRIPTION "qcp's static libraries, headers and CMake package: find_package(qcp CONFIG) gives qcp::qcp and qcp::<module>.")
include(CPack)
