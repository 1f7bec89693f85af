# bash completion for qcp (installed as share/bash-completion/completions/qcp).
# Completes the subcommands, each subcommand's options, and the values of an option whose help
# lists them (CLI11's `TEXT:{a,b,c}`, or "One of: a, b, c"); any other value and the positionals
# complete as file names. Everything is read from the help of the qcp being completed
# (`qcp --help`, `qcp COMMAND --help`), once per shell, so it always matches that binary.

declare -gA _qcp_help_cache

# Runs `$1 [$2] --help` once per binary and command. Called in the completing shell itself (the
# helpers below run in subshells, whose assignments would be lost).
_qcp_load() {
    local key="$1|$2"
    [[ -n ${_qcp_help_cache[$key]+set} ]] || _qcp_help_cache[$key]=$("$1" ${2:+"$2"} --help 2>/dev/null)
}

# The help text of `$1 [$2] --help` (loaded with _qcp_load when not yet cached).
_qcp_help() {
    _qcp_load "$1" "$2"
    printf '%s\n' "${_qcp_help_cache[$1|$2]}"
}

# The subcommands: the names listed under "Subcommands:" in `qcp --help`.
_qcp_commands() {
    _qcp_help "$1" "" | awk '/^Subcommands:/ { on = 1; next } on && /^[^ ]/ { on = 0 }
                             on && /^  [a-z][a-z0-9-]*( |$)/ { print $1 }'
}

# One line per option of `$1 [$2] --help`: its names (comma-separated), a tab, its value type
# column (empty for a flag), a tab, its description. CLI11 prints `  -o,--output TEXT   Text`.
_qcp_options() {
    _qcp_help "$1" "$2" | awk '
        /^ +-/ {
            line = $0; sub(/^ +/, "", line)
            split(line, parts, /  +/)
            head = parts[1]; desc = substr(line, length(head) + 1); sub(/^ +/, "", desc)
            names = head; type = ""
            if (index(head, " ")) { names = substr(head, 1, index(head, " ") - 1); type = substr(head, index(head, " ") + 1) }
            sub(/\{.*/, "", names)  # flags print their default glued on: --no-pq-refit{false}
            print names "\t" type "\t" desc
        }'
}

# The values an option takes, when its help lists them; nothing otherwise. (The awk scripts here
# read all their input: an early exit would make the pipeline fail under `set -o pipefail`.)
_qcp_values() {
    local line type desc
    line=$(_qcp_options "$1" "$2" | awk -F '\t' -v opt="$3" '
        !done { n = split($1, a, ","); for (i = 1; i <= n; i++) if (a[i] == opt) { print; done = 1 } }')
    [[ -n $line ]] || return
    type=${line#*$'\t'}; desc=${type#*$'\t'}; type=${type%%$'\t'*}
    if [[ $type =~ \{([^}]*)\} ]]; then
        printf '%s\n' ${BASH_REMATCH[1]//,/ }
    elif [[ $desc =~ One\ of:\ ([a-z0-9, -]*[a-z0-9]) ]]; then
        printf '%s\n' ${BASH_REMATCH[1]//,/ }
    fi
}

# Whether option $3 of `$1 [$2]` takes a value (its help shows a type column).
_qcp_takes_value() {
    _qcp_options "$1" "$2" | awk -F '\t' -v opt="$3" '
        { n = split($1, a, ","); for (i = 1; i <= n; i++) if (a[i] == opt) found = ($2 != "") }
        END { exit found ? 0 : 1 }'
}

_qcp() {
    local qcp=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=""
    [[ $COMP_CWORD -gt 0 ]] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    command -v "$qcp" >/dev/null 2>&1 || return 0

    # the subcommand: the first word that names one (global options such as -v come before it)
    local command="" word i
    local -a commands
    _qcp_load "$qcp" ""
    mapfile -t commands < <(_qcp_commands "$qcp")
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ " ${commands[*]} " == *" $word "* ]]; then
            command=$word
            break
        fi
    done
    _qcp_load "$qcp" "$command"

    if [[ $prev == -* ]] && _qcp_takes_value "$qcp" "$command" "$prev"; then
        local -a values
        mapfile -t values < <(_qcp_values "$qcp" "$command" "$prev")
        if [[ ${#values[@]} -gt 0 ]]; then
            mapfile -t COMPREPLY < <(compgen -W "${values[*]}" -- "$cur")
        else
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        local -a options
        mapfile -t options < <(_qcp_options "$qcp" "$command" | cut -f1 | tr ',' '\n')
        mapfile -t COMPREPLY < <(compgen -W "${options[*]}" -- "$cur")
    elif [[ -z $command ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${commands[*]}" -- "$cur")
    else
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
}

complete -F _qcp qcp
