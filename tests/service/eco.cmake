# eco_add_tests(BINARY SOURCE [ENVIRONMENT VAR=VALUE...] [TIMEOUT SECONDS] [LABELS L...])
# One CTest test per ECO_TEST(name) in SOURCE, run as "BINARY name". The
# harness (eco.c) is linked in; exit status 77 means "skipped".
include_guard(GLOBAL)

if(NOT TARGET eco_harness)
  add_library(eco_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/eco.c)
  target_include_directories(eco_harness PUBLIC ${CMAKE_CURRENT_LIST_DIR})
endif()

function(eco_add_tests name source)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "" "TIMEOUT" "ENVIRONMENT;LABELS;LINK;DEPENDS")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  get_filename_component(source "${source}" ABSOLUTE)
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE eco_harness ${ARG_LINK})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${source}")
  file(STRINGS "${source}" defs REGEX "^ECO_TEST\\([a-z0-9_]+\\)")
  if(NOT defs)
    message(FATAL_ERROR "${source}: no ECO_TEST(...) definitions")
  endif()
  foreach(def IN LISTS defs)
    string(REGEX REPLACE "^ECO_TEST\\(([a-z0-9_]+)\\).*" "\\1" test "${def}")
    add_test(NAME ${test} COMMAND ${name} ${test})
    set_tests_properties(${test} PROPERTIES
      TIMEOUT ${ARG_TIMEOUT}
      SKIP_RETURN_CODE 77
      ENVIRONMENT "${ARG_ENVIRONMENT}"
      LABELS "${name};${ARG_LABELS}")
  endforeach()
endfunction()
