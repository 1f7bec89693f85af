# Per-ISA copies of Eigen-heavy modules, so that the portable default build (no -march=native)
# loses nothing on AVX2 / AVX-512 CPUs (issue 16; docs/BENCHMARKS.md, "Portable build").
#
# Eigen is vectorised at compile time only, so qcp_isa_copies(<module> SOURCES ...) compiles the
# sources three times: into the module as usual (x86-64 baseline, namespace
# qcp::<module>::isa_base) and once each with -march=x86-64-v3 / -march=x86-64-v4
# (QCP_ISA_NS=isa_v3 / isa_v4). The module's dispatch TU calls one copy (qcp/core/isa.hpp).
#
# The ODR problem: every inline function and template instance a copy uses (all of Eigen,
# std::vector<double>, qcp's header inlines) is a weak/COMDAT symbol, and the linker would keep
# one definition, possibly the AVX-512 one, for the whole program (SIGILL on older CPUs) or the
# baseline one for the v4 copy (slow). So each copy is partially linked into one object
# (`ld -r --force-group-allocation`: COMDAT groups resolved inside the copy and dissolved, so the
# final link cannot merge them with anyone's), then every symbol except the copy's own
# qcp::<module>::isa_vN:: functions is made local (objcopy --keep-global-symbol) and renamed
# `qcp_isa_vN.<name>` (so `objdump -d` and profilers show which copy code belongs to; the
# test isa_baseline_only relies on it). The object joins the module's static library.
#
# Copies share no state: Eigen's thread count is a static local in an inline function, which
# each copy would hold privately, so the copies are built with EIGEN_DONT_PARALLELIZE (qcp runs
# every Eigen call on one thread anyway, core/parallel.cpp). Eigen objects cross between the
# copies, so Eigen's alignment is fixed to 64 bytes in every TU (qcp_core's PUBLIC definitions,
# which the installed package exports too).

set(QCP_EIGEN_ALIGN_DEFINITIONS EIGEN_MAX_ALIGN_BYTES=64 EIGEN_MAX_STATIC_ALIGN_BYTES=64)

set(QCP_ISA_COPIES OFF)
if(NOT (QCP_NATIVE AND QCP_HAS_MARCH_NATIVE) AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
   AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT QCP_SANITIZE)
  check_cxx_compiler_flag(-march=x86-64-v4 QCP_HAS_MARCH_X86_64_V4)
  find_program(QCP_OBJCOPY NAMES objcopy)
  if(QCP_HAS_MARCH_X86_64_V4 AND QCP_OBJCOPY AND CMAKE_LINKER AND CMAKE_NM)
    set(QCP_ISA_COPIES ON)
  endif()
endif()
set(QCP_ISA_LEVELS v3 v4)

# qcp_isa_copies(<module> SOURCES src... [ALSO src...]): adds SOURCES to qcp_<module> (the
# baseline copy) and, where QCP_ISA_COPIES, builds the v3 and v4 copies of SOURCES and ALSO; the
# module's dispatch TU sees QCP_<MODULE>_ISA_COPIES when they exist. ALSO: hot functions of a
# module below (e.g. core/grid.cpp) that a copy calls: each copy gets its own, made local with the
# rest, while everyone else keeps calling the baseline one.
function(qcp_isa_copies module)
  cmake_parse_arguments(I "" "" "SOURCES;ALSO" ${ARGN})
  target_sources(qcp_${module} PRIVATE ${I_SOURCES})
  if(NOT QCP_ISA_COPIES)
    return()
  endif()
  string(TOUPPER ${module} upper)
  target_compile_definitions(qcp_${module} PRIVATE QCP_${upper}_ISA_COPIES)
  foreach(level ${QCP_ISA_LEVELS})
    set(objects qcp_${module}_isa_${level})
    add_library(${objects} OBJECT ${I_SOURCES} ${I_ALSO})
    # -fno-gnu-unique: static locals of inline functions become plain weak symbols, which objcopy can
    # localize (STB_GNU_UNIQUE ones stay global and would clash between two modules' copies)
    target_compile_options(${objects} PRIVATE -march=x86-64-${level} -fno-gnu-unique)
    target_compile_definitions(${objects} PRIVATE QCP_ISA_NS=isa_${level} EIGEN_DONT_PARALLELIZE)
    target_link_libraries(${objects} PRIVATE $<TARGET_PROPERTY:qcp_${module},LINK_LIBRARIES>)
    target_include_directories(${objects} PRIVATE ${PROJECT_SOURCE_DIR}/include)
    set(out ${PROJECT_BINARY_DIR}/qcp_${module}_isa_${level}.o)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DLINKER=${CMAKE_LINKER} -DOBJCOPY=${QCP_OBJCOPY} -DNM=${CMAKE_NM}
              -DMODULE=${module} -DLEVEL=${level} -DOUTPUT=${out}
              -P ${PROJECT_SOURCE_DIR}/cmake/qcp_isa_link.cmake $<TARGET_OBJECTS:${objects}>
      DEPENDS ${objects} $<TARGET_OBJECTS:${objects}> ${PROJECT_SOURCE_DIR}/cmake/qcp_isa_link.cmake
      COMMENT "Linking the ${level} copy of qcp_${module}"
      COMMAND_EXPAND_LISTS VERBATIM)
    set_source_files_properties(${out} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    target_sources(qcp_${module} PRIVATE ${out})
  endforeach()
endfunction()
