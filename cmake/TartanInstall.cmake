# tartan_install_program(<target> [SECTION <n>] [DESTINATION <dir>] [NAME <summary>] [NO_MAN])
#
# Installs a binary (default: ${CMAKE_INSTALL_BINDIR}) and, unless NO_MAN, its man page made by
# help2man from the binary's own --help and --version at build time, gzipped as Debian wants,
# into ${CMAKE_INSTALL_MANDIR}/man<n> (section 1 unless SECTION). A new binary is one line:
#   tartan_install_program(tartan-cni NAME "..." DESTINATION ...)
# Without help2man (TARTAN_MANPAGES=OFF or not installed) the man pages are skipped, said once.

option(TARTAN_INSTALL "Generate install rules (binaries, systemd unit, man pages)" ON)
find_program(HELP2MAN_EXECUTABLE help2man)
find_program(GZIP_EXECUTABLE gzip)
if(HELP2MAN_EXECUTABLE AND GZIP_EXECUTABLE)
  set(_tartan_man_default ON)
else()
  set(_tartan_man_default OFF)
endif()
option(TARTAN_MANPAGES "Generate man pages with help2man" ${_tartan_man_default})
if(TARTAN_MANPAGES AND NOT (HELP2MAN_EXECUTABLE AND GZIP_EXECUTABLE))
  message(FATAL_ERROR "TARTAN_MANPAGES=ON needs help2man and gzip (apt-get install help2man)")
endif()
if(TARTAN_INSTALL AND NOT TARTAN_MANPAGES)
  message(STATUS "help2man not found: man pages are not generated")
endif()

function(tartan_install_program target)
  if(NOT TARTAN_INSTALL OR TARTAN_FUZZ)
    return()
  endif()
  cmake_parse_arguments(P "NO_MAN" "SECTION;DESTINATION;NAME" "" ${ARGN})
  if(NOT P_SECTION)
    set(P_SECTION 1)
  endif()
  if(NOT P_DESTINATION)
    set(P_DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
  install(TARGETS ${target} RUNTIME DESTINATION ${P_DESTINATION})
  if(P_NO_MAN OR NOT TARTAN_MANPAGES)
    return()
  endif()
  if(NOT P_NAME)
    set(P_NAME "${target}")
  endif()
  set(dir ${PROJECT_BINARY_DIR}/man)
  set(page ${dir}/${target}.${P_SECTION})
  # help2man dates the page from SOURCE_DATE_EPOCH when set (reproducible packages).
  add_custom_command(
    OUTPUT ${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${HELP2MAN_EXECUTABLE} --no-info --no-discard-stderr --section=${P_SECTION}
            "--name=${P_NAME}" --output=${page} $<TARGET_FILE:${target}>
    COMMAND ${GZIP_EXECUTABLE} -9nf ${page}
    DEPENDS ${target}
    COMMENT "Generating the ${target}(${P_SECTION}) man page with help2man"
    VERBATIM)
  add_custom_target(${target}_man ALL DEPENDS ${page}.gz)
  install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${P_SECTION})
endfunction()
