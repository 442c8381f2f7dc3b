# userstore_setup_target(<target>)
#
# Private warning flags and the USERSTORE_SANITIZE sanitizers, for userstore's own
# targets only (never CMAKE_CXX_FLAGS, never PUBLIC).
function(userstore_setup_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(USERSTORE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(USERSTORE_SANITIZE)
    list(JOIN USERSTORE_SANITIZE "," _san)
    target_compile_options(${target} PRIVATE -fsanitize=${_san} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${_san})
  endif()
endfunction()

# userstore_add_test(<name> SOURCES <files...> [LABELS <labels...>])
#
# One GoogleTest binary per unit, its tests discovered one by one for ctest.
function(userstore_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE userstore_internal userstore::testing GTest::gmock
                                        GTest::gtest_main Threads::Threads)
  userstore_setup_target(${name})
  set(_props "")
  if(ARG_LABELS)
    set(_props PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 ${_props})
endfunction()
