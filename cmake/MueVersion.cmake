# Version and git hash baked into the binary. The hash is refreshed at every
# build (not only at configure time) so `muE --version` names the commit built.
set(MUE_VERSION_IN "${CMAKE_SOURCE_DIR}/src/util/version.cpp.in")
set(MUE_VERSION_OUT "${CMAKE_BINARY_DIR}/generated/version.cpp")
add_custom_target(mue_version_stamp
  COMMAND ${CMAKE_COMMAND}
    -DIN=${MUE_VERSION_IN} -DOUT=${MUE_VERSION_OUT}
    -DVERSION=${PROJECT_VERSION} -DSRC=${CMAKE_SOURCE_DIR}
    -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${MUE_VERSION_OUT}
  COMMENT "Stamping muE version")
