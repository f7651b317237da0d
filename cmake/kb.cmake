# kb_module(<name> [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Builds every <folder>/*.cc (except *_main.cc) into the static library kb_<name> (alias
# kb::<name>). Warnings-as-errors apply to our sources only.
function(kb_module name)
  cmake_parse_arguments(A "" "" "PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX ".*_main\\.cc$")
  if(srcs)
    add_library(kb_${name} STATIC ${srcs})
    target_link_libraries(kb_${name} PUBLIC kb_root_include ${A_PUBLIC_DEPS}
                                     PRIVATE kb_warnings ${A_PRIVATE_DEPS})
  else()
    add_library(kb_${name} INTERFACE)
    target_link_libraries(kb_${name} INTERFACE kb_root_include ${A_PUBLIC_DEPS})
  endif()
  add_library(kb::${name} ALIAS kb_${name})
endfunction()

# ctest timeout (seconds) of every test of suite <name>, sized to the suite's slowest test with
# margin: unit suites take at most a few seconds a test, integration starts real processes, e2e
# plays a scenario against Prometheus and kube-balancer (about 35 s each). A test over its timeout
# is killed and fails.
set(KB_TEST_TIMEOUT_DEFAULT 60)
set(KB_TEST_TIMEOUT_integration 120)
set(KB_TEST_TIMEOUT_e2e 240)
function(kb_test_timeout name out_var)
  if(DEFINED KB_TEST_TIMEOUT_${name})
    set(${out_var} ${KB_TEST_TIMEOUT_${name}} PARENT_SCOPE)
  else()
    set(${out_var} ${KB_TEST_TIMEOUT_DEFAULT} PARENT_SCOPE)
  endif()
endfunction()

# kb_test_suite(<name> DEPS ...): one Catch2 executable <name>_tests from test/<name>/*_test.cc,
# registered with ctest under the label <name> and the suite's timeout (kb_test_timeout).
function(kb_test_suite name)
  cmake_parse_arguments(A "" "" "DEPS;LABELS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name}_tests ${srcs})
  target_link_libraries(${name}_tests PRIVATE ${A_DEPS} kb_testing Catch2::Catch2WithMain kb_warnings)
  target_compile_definitions(${name}_tests PRIVATE
    KB_SOURCE_DIR="${CMAKE_SOURCE_DIR}" KB_BINARY_DIR="${CMAKE_BINARY_DIR}")
  set(labels ${name} ${A_LABELS})
  kb_test_timeout(${name} timeout)
  # `-w NoTests`: a ctest entry whose name matches no Catch test fails instead of passing empty
  # (catch_discover_tests mangles names containing ',' ';' ':'; keep test names free of them).
  catch_discover_tests(${name}_tests
    EXTRA_ARGS -w NoTests
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    PROPERTIES LABELS "${labels}" TIMEOUT ${timeout}
    DISCOVERY_TIMEOUT 60)
endfunction()
