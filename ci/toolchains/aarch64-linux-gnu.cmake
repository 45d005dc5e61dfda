# ci/toolchains/aarch64-linux-gnu.cmake — cross build for 64-bit ARM Linux on a
# Debian/Ubuntu x86-64 host; the tests run under qemu-aarch64.
#
#   bash ci/setup.sh --cross     # gcc-aarch64-linux-gnu qemu-user lib*-dev:arm64
#   cmake --preset aarch64 && cmake --build --preset aarch64 && ctest --preset aarch64
#
# Two arm64 trees are involved:
#   /usr/aarch64-linux-gnu        the cross toolchain's own libc (libc6-dev-arm64-cross)
#   /usr/lib/aarch64-linux-gnu    multiarch packages (libsleef-dev:arm64, ...)
#   /usr/include                  their headers (shared across architectures)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(WSK_CROSS_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${WSK_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${WSK_CROSS_TRIPLE}-g++) # only used if bench is turned on
set(CMAKE_LIBRARY_ARCHITECTURE ${WSK_CROSS_TRIPLE})

# Find headers and libraries only in arm64 locations: the cross root, and "/"
# searched through the multiarch dirs (CMAKE_LIBRARY_ARCHITECTURE makes
# find_library look in /usr/lib/aarch64-linux-gnu); programs come from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${WSK_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads the arm64 .pc files only; they name /usr/lib/aarch64-linux-gnu
# and /usr/include directly, so no sysroot prefix is applied.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${WSK_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Run arm64 programs (tests, try_run) under qemu: the dynamic loader and glibc
# from the cross root (-L, matching versions), every other library from the
# multiarch dirs.
find_program(WSK_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(NOT WSK_QEMU_AARCH64)
  set(WSK_QEMU_AARCH64 qemu-aarch64) # resolved on PATH when the tests run
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR
  ${WSK_QEMU_AARCH64} -L /usr/${WSK_CROSS_TRIPLE}
  -E LD_LIBRARY_PATH=/usr/${WSK_CROSS_TRIPLE}/lib:/usr/lib/${WSK_CROSS_TRIPLE}:/lib/${WSK_CROSS_TRIPLE})
