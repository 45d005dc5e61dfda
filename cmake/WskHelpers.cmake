# cmake/WskHelpers.cmake — small helpers used by the top-level CMakeLists.txt.

include(CheckCSourceCompiles)

# wsk_require_pkg(<prefix> <pkg-config module> <Debian package>)
# Finds a pkg-config module as the imported target PkgConfig::<prefix>, or stops
# configure with the Debian package that provides it.
function(wsk_require_pkg prefix module debian_pkg)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    set(_setup "bash ci/setup.sh")
    if(CMAKE_CROSSCOMPILING)
      set(_setup "bash ci/setup.sh --cross")
    endif()
    message(FATAL_ERROR
      "wsk: pkg-config module '${module}' not found. "
      "Install it with: apt-get install ${debian_pkg} (or run: ${_setup}).")
  endif()
  message(STATUS "wsk: found ${module} ${${prefix}_VERSION}")
endfunction()

# wsk_probe_isa(<isa> <result var> <flags list> <source>)
# Sets <result var> to 1 when the compiler builds and links <source> with
# <flags>, else 0 with a warning: a missing ISA degrades the build, it does not
# fail it.
function(wsk_probe_isa isa out flags source)
  string(REPLACE ";" " " _flags "${flags}")
  set(CMAKE_REQUIRED_FLAGS "${_flags}")
  set(CMAKE_REQUIRED_QUIET ON)
  string(TOUPPER "${isa}" _up)
  check_c_source_compiles("${source}" WSK_COMPILER_HAS_${_up})
  if(WSK_COMPILER_HAS_${_up})
    set(${out} 1 PARENT_SCOPE)
    if(NOT _flags)
      set(_flags "baseline, no flags")
    endif()
    message(STATUS "wsk: ISA ${isa}: yes (${_flags})")
  else()
    set(${out} 0 PARENT_SCOPE)
    message(WARNING "wsk: the compiler cannot build ${isa} code with '${_flags}'; "
                    "the ${isa} kernels are left out of this build.")
  endif()
endfunction()
