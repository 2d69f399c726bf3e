# tartand's code layout (docs/adr/0020): the functions its steady state runs (periodic passes,
# store checks, lease events, renewals, TLS requests) are placed together in .text (one
# run of addresses), in the order of cmake/tartand-steady-functions.txt (made by bench/layout.sh).
#
# Why: after start-up tartand drops its clean file pages (store/release_memory.hpp), and the
# kernel maps them back on access in runs of 64 KiB (fault-around). With the default layout,
# the code of the steady state is spread over nearly every 64 KiB of tartand's 1.7 MiB of
# code, so all of it came back within a periodic pass; grouped, a few runs hold it.
#
# Needs each function in a section of its own (-ffunction-sections, for every target: the
# libraries are tartand's) and a linker that orders sections from a list: GNU gold
# (--section-ordering-file; in Debian's binutils up to 2.43). Without it, or with
# TARTAN_CODE_LAYOUT=OFF, the default layout is kept and nothing else changes. Never for the
# sanitizer or fuzz builds. Unreferenced sections are also dropped from tartand
# (--gc-sections), which only shrinks it, and read-only data stays out of the executable
# segment (--rosegment, what GNU ld does by default).
option(TARTAN_CODE_LAYOUT "Group tartand's steady-state code (needs GNU gold)" ON)

set(TARTAN_LAYOUT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/cmake/tartand-steady-functions.txt)
set(TARTAN_LAYOUT_ACTIVE OFF)
if(TARTAN_CODE_LAYOUT AND NOT TARTAN_SANITIZE AND NOT TARTAN_FUZZ
   AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # gold takes section names; the list holds symbol names (one per line, # comments).
  set(_order ${PROJECT_BINARY_DIR}/generated/tartand-section-order.txt)
  file(STRINGS ${TARTAN_LAYOUT_FILE} _names REGEX "^[^#]")
  list(TRANSFORM _names PREPEND ".text.")
  list(JOIN _names "\n" _body)
  file(CONFIGURE OUTPUT ${_order} CONTENT "${_body}\n" @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${TARTAN_LAYOUT_FILE})
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=gold;LINKER:--section-ordering-file,${_order}"
                    TARTAN_HAVE_GOLD_ORDERING)
  if(TARTAN_HAVE_GOLD_ORDERING)
    set(TARTAN_LAYOUT_ACTIVE ON)
    set(TARTAN_LAYOUT_ORDER ${_order})
    add_compile_options(-ffunction-sections)
  else()
    message(STATUS "tartand code layout: no GNU gold with --section-ordering-file; default layout")
  endif()
endif()

# tartan_code_layout(<target>): links <target> with the steady-state functions together.
function(tartan_code_layout target)
  if(TARTAN_LAYOUT_ACTIVE)
    target_link_options(${target} PRIVATE -fuse-ld=gold
                        "LINKER:--section-ordering-file,${TARTAN_LAYOUT_ORDER}"
                        LINKER:--rosegment LINKER:--gc-sections)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${TARTAN_LAYOUT_ORDER})
  endif()
endfunction()
