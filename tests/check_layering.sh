#!/usr/bin/env bash
# The dependency rule, checked on the sources: the build already refuses an
# include from a folder a wing may not see (each meson.build lists its
# include folders), and this check refuses the one way around that, a
# relative path ("../"), except the two crossings core/ declares:
# core/op.h reads the op lists (ops/*.def) and core/backward.c the scalar
# sweep step (ops/scalar_sweep.h). It also refuses internal headers in the
# public ones. Usage: check_layering.sh SOURCE_ROOT
set -u
cd "${1:-.}" || exit 2
status=0
fail() { echo "layering: $*"; status=1; }

while IFS= read -r line; do
    file=${line%%:*}
    case "$line" in
        autograd/core/op.h:*'#include "../ops/'*'.def"'*) ;;
        autograd/core/backward.c:*'#include "../ops/scalar_sweep.h"'*) ;;
        *) fail "relative include outside the declared crossings: $line" ;;
    esac
done < <(grep -rn --include='*.[ch]' -E '^\s*#\s*include\s+"\.\./' autograd expr nn tools examples bench)

# Public headers include only public headers and the C library.
while IFS= read -r line; do
    fail "a public header includes a project header by quotes: $line"
done < <(grep -n -E '^\s*#\s*include\s+"' autograd/include/tapegrad/*.h expr/include/tapegrad/*.h \
         nn/include/tapegrad/*.h)

# Users' code (and nn, expr) spell the public headers <tapegrad/NAME.h>.
while IFS= read -r line; do
    fail "public header not spelled <tapegrad/...>: $line"
done < <(grep -rn --include='*.[ch]' -E '^\s*#\s*include\s+[<"](autograd|nn|trace|expr)\.h[>"]' \
         autograd expr nn tools examples bench tests)

[ $status -eq 0 ] && echo "layering: ok (includes follow the dependency rule)"
exit $status
