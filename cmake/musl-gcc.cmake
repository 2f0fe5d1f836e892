# Toolchain: build against musl with Debian's musl-tools (musl-gcc), for the
# `musl` preset.
#
# musl-gcc searches musl's headers only. The Linux UAPI headers the code
# includes (linux/, asm/, asm-generic/: openat2.h, seccomp.h...) do not
# depend on the C library, so they are made visible through a directory of
# symlinks in the build tree - not by adding /usr/include, which would mix
# glibc's headers in.
set(CMAKE_C_COMPILER musl-gcc)

execute_process(COMMAND gcc -print-multiarch OUTPUT_VARIABLE _dcx_multiarch OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT _dcx_multiarch)
  set(_dcx_multiarch x86_64-linux-gnu)
endif()
set(_dcx_uapi ${CMAKE_BINARY_DIR}/musl-uapi-headers)
file(MAKE_DIRECTORY ${_dcx_uapi})
foreach(_dcx_pair "linux=/usr/include/linux" "asm-generic=/usr/include/asm-generic"
                  "asm=/usr/include/${_dcx_multiarch}/asm")
  string(REPLACE "=" ";" _dcx_pair "${_dcx_pair}")
  list(GET _dcx_pair 0 _dcx_name)
  list(GET _dcx_pair 1 _dcx_target)
  if(NOT EXISTS ${_dcx_uapi}/${_dcx_name})
    file(CREATE_LINK ${_dcx_target} ${_dcx_uapi}/${_dcx_name} SYMBOLIC)
  endif()
endforeach()
set(CMAKE_C_FLAGS_INIT "-isystem ${_dcx_uapi}")
