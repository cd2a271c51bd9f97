#!/usr/bin/env python3
"""The README's first example must be examples/first_example.c, verbatim,
and at most 15 lines, so the code a reader copies is the code CI runs."""
import re
import sys

readme, example = sys.argv[1], sys.argv[2]
text = open(readme, encoding="utf-8").read()
section = text.split("## First example", 1)[1]
block = re.search(r"```c\n(.*?)```", section, re.S).group(1)
source = open(example, encoding="utf-8").read()
lines = block.rstrip("\n").count("\n") + 1
if block != source:
    sys.exit("README's first example differs from examples/first_example.c")
if lines > 15:
    sys.exit(f"README's first example has {lines} lines (at most 15)")
print(f"README first example == examples/first_example.c ({lines} lines)")
