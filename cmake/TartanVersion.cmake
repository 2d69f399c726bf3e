# The version every binary reports (--version) and the Debian package carries, computed at
# configure time so that both always agree:
#   a git checkout      `git describe` of a v<x.y.z> tag ("0.2.0", "0.2.0-3-gabc1234"); with no
#                       such tag, the project version plus the commit count and hash
#                       ("0.1.0-214-g78230b1"), so two builds of different commits never share one
#   a release tarball   its VERSION file, filled in by git archive (export-subst): the describe
#                       output, or without a tag the project version and commit ("0.1.0-g78230b1")
#   neither             project(VERSION)
# -DTARTAN_VERSION=... overrides all three (a distribution's own build).
# A commit or a checkout re-runs the configure step (CMAKE_CONFIGURE_DEPENDS on HEAD and its
# ref), so the version does not go stale in a long-lived build tree.
#
# Sets TARTAN_VERSION_STRING and TARTAN_DEB_VERSION ("-" turned into "+" and ".", which Debian
# sorts after the release: 0.1.0 < 0.1.0+3.gabc1234 < 0.1.1).

set(TARTAN_VERSION "" CACHE STRING "Version to report instead of the one git describe gives")

function(_tartan_git out)
  execute_process(COMMAND git ${ARGN} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE o RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0)
    set(${out} "${o}" PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()

set(_v "")
if(TARTAN_VERSION)
  set(_v "${TARTAN_VERSION}")
else()
  find_package(Git QUIET)
  if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
    _tartan_git(_top rev-parse --show-toplevel)
    get_filename_component(_top "${_top}" REALPATH)
    get_filename_component(_src "${PROJECT_SOURCE_DIR}" REALPATH)
    if(_top STREQUAL _src)
      _tartan_git(_v describe --tags --match "v[0-9]*")
      string(REGEX REPLACE "^v" "" _v "${_v}")
      if(NOT _v)
        _tartan_git(_count rev-list --count HEAD)
        _tartan_git(_hash rev-parse --short=7 HEAD)
        if(_count AND _hash)
          set(_v "${PROJECT_VERSION}-${_count}-g${_hash}")
        endif()
      endif()
      # Re-configure when HEAD moves: HEAD itself (checkout) and the branch it points at (commit).
      _tartan_git(_head rev-parse --path-format=absolute --git-path HEAD)
      _tartan_git(_ref symbolic-ref -q HEAD)
      set(_deps ${_head})
      if(_ref)
        _tartan_git(_ref_file rev-parse --path-format=absolute --git-path ${_ref})
        list(APPEND _deps ${_ref_file})
      endif()
      _tartan_git(_packed rev-parse --path-format=absolute --git-path packed-refs)
      list(APPEND _deps ${_packed})
      foreach(f ${_deps})
        if(EXISTS "${f}")
          set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${f}")
        endif()
      endforeach()
    endif()
  endif()
  if(NOT _v AND EXISTS ${PROJECT_SOURCE_DIR}/VERSION)
    # Line 1: git describe of a v<x.y.z> tag (empty without one), line 2: the commit. In a
    # checkout both still hold git's placeholders; only filled-in lines count.
    file(READ ${PROJECT_SOURCE_DIR}/VERSION _file)
    string(REPLACE "\n" ";" _lines "${_file};;")
    list(GET _lines 0 _described)
    list(GET _lines 1 _commit)
    if(_described MATCHES "^v?[0-9]")
      string(REGEX REPLACE "^v" "" _v "${_described}")
    elseif(_commit MATCHES "^[0-9a-f]+$")
      set(_v "${PROJECT_VERSION}-g${_commit}")
    endif()
  endif()
  if(NOT _v)
    set(_v "${PROJECT_VERSION}")
  endif()
endif()

if(NOT _v MATCHES "^[0-9][A-Za-z0-9.+~-]*$")
  message(FATAL_ERROR "tartan version \"${_v}\" must start with a digit and use only [A-Za-z0-9.+~-]")
endif()
set(TARTAN_VERSION_STRING "${_v}")
string(REGEX REPLACE "-" "+" TARTAN_DEB_VERSION "${_v}")
string(FIND "${TARTAN_DEB_VERSION}" "+" _plus)
if(_plus GREATER -1)
  math(EXPR _after "${_plus} + 1")
  string(SUBSTRING "${TARTAN_DEB_VERSION}" 0 ${_after} _head_part)
  string(SUBSTRING "${TARTAN_DEB_VERSION}" ${_after} -1 _tail_part)
  string(REPLACE "+" "." _tail_part "${_tail_part}")
  set(TARTAN_DEB_VERSION "${_head_part}${_tail_part}")
endif()
message(STATUS "tartan version: ${TARTAN_VERSION_STRING} (Debian: ${TARTAN_DEB_VERSION})")

configure_file(${CMAKE_CURRENT_LIST_DIR}/version.cpp.in ${PROJECT_BINARY_DIR}/generated/version.cpp
               @ONLY)
