# cmake -DQCP=path/to/qcp -DHELP2MAN=path/to/help2man -DOUT=qcp.1.gz -P qcp_man.cmake
# The man page, generated from the binary itself: help2man turns `qcp --help` and `qcp --version`
# into the page, and a COMMANDS section holds every subcommand's `qcp <command> --help` verbatim,
# the subcommands taken from the "Subcommands:" list of `qcp --help` so that a new one needs no
# edit here. Written gzip'd (-n: no name or time stamp), as Debian installs man pages.
foreach(var QCP HELP2MAN OUT)
  if(NOT ${var})
    message(FATAL_ERROR "qcp_man.cmake: -D${var}= is required")
  endif()
endforeach()

function(run_help out_var)
  execute_process(COMMAND ${QCP} ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "qcp_man.cmake: `qcp ${ARGN} --help` failed (${rc}): ${err}")
  endif()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# Text as roff, kept as printed: backslashes doubled, a leading . or ' made literal, - a real minus.
function(roff_literal out_var text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

run_help(top)
string(REGEX MATCH "\nSubcommands:\n(.*)" list "${top}")
string(REGEX MATCHALL "\n  [a-z][a-z0-9-]*" names "\n${CMAKE_MATCH_1}")
set(commands "")
foreach(name ${names})
  string(STRIP "${name}" name)
  list(APPEND commands ${name})
endforeach()
if(NOT commands)
  message(FATAL_ERROR "qcp_man.cmake: no subcommands found in `qcp --help`")
endif()

get_filename_component(dir "${OUT}" DIRECTORY)
set(include_file "${dir}/qcp_man.h2m")
set(page "${dir}/qcp.1")
set(text "[COMMANDS]\nEach command's own help, as `qcp COMMAND --help` prints it.\n")
foreach(command ${commands})
  run_help(help ${command})
  roff_literal(help "${help}")
  string(APPEND text ".SS \"qcp ${command}\"\n.nf\n${help}.fi\n")
endforeach()
string(APPEND text [=[
[EXIT STATUS]
0 success, 1 a check failed (e.g. \-\-max\-drop, \-\-min\-top1), 2 bad usage or bad input; always with
one line on standard error naming the problem, and never a partial output file.
[EXAMPLES]
.nf
qcp inspect model.onnx
qcp compress model.onnx \-o small.onnx \-\-method admm\-cp \-\-rank\-ratio 2 \-\-bits 4 \-\-calib images.npy
qcp compress model.onnx \-o small.onnx \-\-method rtn \-\-bits 8
qcp eval small.onnx \-\-data images.npy \-\-labels labels.npy \-\-ref model.onnx
.fi
[SEE ALSO]
The README of the qcp sources describes every option, the weight formats and the report.
]=])
file(WRITE "${include_file}" "${text}")

execute_process(COMMAND ${HELP2MAN} --no-info --section 1 --source qcp
                        --name "post-training compression of ONNX models" --include ${include_file}
                        --output ${page} ${QCP}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "qcp_man.cmake: help2man failed (${rc}): ${err}")
endif()
execute_process(COMMAND gzip -9 -n -f ${page} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "qcp_man.cmake: gzip ${page} failed")
endif()
if(NOT "${page}.gz" STREQUAL "${OUT}")
  file(RENAME "${page}.gz" "${OUT}")
endif()
