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

# kb_test_suite(<name> DEPS ...): one Catch2 executable <name>_tests from test/<name>/*_test.cc,
# registered with ctest under the label <name>.
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
  # `-w NoTests`: a ctest entry whose name matches no Catch test fails instead of passing empty
  # (catch_discover_tests mangles names containing ',' ';' ':'; keep test names free of them).
  catch_discover_tests(${name}_tests
    EXTRA_ARGS -w NoTests
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    PROPERTIES LABELS "${labels}" TIMEOUT 300
    DISCOVERY_TIMEOUT 60)
endfunction()
