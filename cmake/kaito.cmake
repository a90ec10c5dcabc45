# Helpers that turn one call into one target (modelled on leveldb_test).
#   kaito_test(<name> SOURCES <files...> LIBS <targets...> [LABELS <labels...>] [TIMEOUT <s>])
#     one GoogleTest executable and one CTest entry named <name>.
#   kaito_fuzzer(<name> SOURCES <files...> LIBS <targets...> CORPUS <dir>)
#     with KAITO_FUZZ=ON under clang: a libFuzzer binary <name>.
#     always: <name>_replay, which runs LLVMFuzzerTestOneInput over every file in CORPUS,
#     registered as the CTest <name>_replay so CI exercises the corpus on every run.
#   kaito_bench(<name> SOURCES <files...> LIBS <targets...>)   never run by ctest.
include_guard(GLOBAL)

function(kaito_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    KAITO_SOURCE_DIR="${PROJECT_SOURCE_DIR}" KAITO_SHARED_DIR="${KAITO_SHARED_DIR}"
    KAITO_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()

function(kaito_fuzzer name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name}_replay ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
  target_link_libraries(${name}_replay PRIVATE ${F_LIBS})
  add_test(NAME ${name}_replay COMMAND ${name}_replay ${F_CORPUS})
  set_tests_properties(${name}_replay PROPERTIES TIMEOUT 300 LABELS fuzz)
  if(KAITO_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE ${F_LIBS})
  endif()
endfunction()

function(kaito_bench name)
  cmake_parse_arguments(B "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${B_SOURCES})
  target_link_libraries(${name} PRIVATE ${B_LIBS})
endfunction()
