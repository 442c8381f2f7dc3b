# The pkg-config consumer: builds the quick-start with
# `pkg-config --cflags --libs userstore` and a kit test with
# `pkg-config --cflags --libs userstore-testing gtest_main`, and a
# changelog consumer with `pkg-config --cflags --libs userstore-changelog`
# (when the changelog was installed), against an installed userstore, and
# runs them.
#
#   cmake -DPKG_CONFIG=<pkg-config> -DCXX=<c++ compiler> -DPC_DIR=<prefix>/<libdir>/pkgconfig
#         -DSOURCE_DIR=<userstore source> -DWORK_DIR=<scratch> -P pkg_config.cmake
foreach(var PKG_CONFIG CXX PC_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pkg_config.cmake needs -D${var}=...")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK_DIR})
set(ENV{PKG_CONFIG_PATH} "${PC_DIR}")

function(build_and_run name source)
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs ${ARGN}
                  OUTPUT_VARIABLE flags ERROR_VARIABLE error RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs ${ARGN} failed: ${error}")
  endif()
  message(STATUS "pkg-config --cflags --libs ${ARGN}: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  execute_process(COMMAND ${CXX} -std=c++17 ${source} -o ${WORK_DIR}/${name} ${flags}
                  RESULT_VARIABLE rc ERROR_VARIABLE error)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name}: compiling with pkg-config's flags failed:\n${error}")
  endif()
  execute_process(COMMAND ${WORK_DIR}/${name} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} exited with ${rc}:\n${out}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

build_and_run(pkg_config_quickstart ${SOURCE_DIR}/docs/quickstart.cc userstore)
build_and_run(pkg_config_kit_test ${SOURCE_DIR}/tests/consumer/kit_consumer_test.cc
              userstore-testing gtest_main)
if(EXISTS ${PC_DIR}/userstore-changelog.pc)
  build_and_run(pkg_config_changelog_consumer ${SOURCE_DIR}/tests/consumer/changelog_consumer.cc
                userstore-changelog)
endif()
