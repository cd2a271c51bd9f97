#!/usr/bin/env bash
# The README's install section, run word for word: each ```sh block after a
# "<!-- install-check: NAME -->" marker in README.md is extracted and run by
# bash (set -euo pipefail) in a fresh copy of the source tree, with HOME a
# scratch folder (the prefix is under $HOME) and no PKG_CONFIG_PATH or
# LD_LIBRARY_PATH from outside. Then it checks what the blocks built: the
# first example ran from each program, the static one needs no
# libtapegrad.so, and the subproject built the library only.
# Usage: readme_install.sh SOURCE_ROOT
set -euo pipefail
src=$(cd "${1:-.}" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
log=$scratch/log

# A fresh copy of the tree: what git tracks (and new files not ignored).
mkdir -p "$scratch/src" "$scratch/home"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && xargs -0 tar cf - --no-recursion 2>/dev/null) | tar xf - -C "$scratch/src"
else
    tar cf - -C "$src" --exclude='./build*' . | tar xf - -C "$scratch/src"
fi

block() { # the ```sh block after the marker NAME
    awk -v m="<!-- install-check: $1 -->" '
        $0 == m { found = 1; next }
        found && /^```sh$/ { inside = 1; next }
        inside && /^```$/ { exit }
        inside { print }' "$src/README.md"
}

run() { # NAME: runs its block in the copy of the tree
    local code; code=$(block "$1")
    if [ -z "$code" ]; then echo "install check: README.md has no block '$1'"; return 1; fi
    echo "--- README block '$1'" >>"$log"
    (cd "$scratch/src" && env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH HOME="$scratch/home" \
        bash -euo pipefail -c "$code") >>"$log" 2>&1
}

fail() {
    echo "install check: FAILED: $*"
    tail -40 "$log"
    exit 1
}

run install || fail "the README's install commands"
[ "$(grep -c '^PASS: gradcheck' "$log")" -eq 2 ] || fail "./my and ./my_static did not both pass"
if readelf -d "$scratch/src/my_static" | grep -q 'libtapegrad'; then
    fail "my_static still needs libtapegrad.so"
fi
readelf -d "$scratch/src/my" | grep -qE 'R(UN)?PATH' || fail "./my has no rpath"
run subproject || fail "the README's subproject commands"
[ "$(grep -c '^PASS: gradcheck' "$log")" -eq 3 ] || fail "the subproject's ./build/my did not pass"
sub=$scratch/myproj/build/subprojects/tapegrad
[ -d "$sub" ] || fail "tapegrad was not built as a subproject"
if [ -e "$sub/tests" ] || [ -e "$sub/examples" ] || [ -e "$sub/bench" ]; then
    fail "the subproject built tapegrad's tests, examples or benchmarks"
fi
echo "install check: OK (the README's commands as written: meson install into \$HOME/.local/tapegrad," \
     "pkg-config, rpath and static programs run; the meson subproject builds the library only)"
