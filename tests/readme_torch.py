#!/usr/bin/env python3
"""The README's "Exchanging weights with PyTorch and NumPy": its C block must
be the marked part of examples/torch_export.c, and its Python block, run on
what that example writes, must print the example's loss (to 1e-6). Without
torch the Python half is skipped (exit 77 when nothing else ran).

Usage: readme_torch.py README.md examples/torch_export.c PATH/TO/torch_export"""
import re
import subprocess
import sys
import tempfile
import textwrap

readme, source, exe = sys.argv[1:4]
section = open(readme, encoding="utf-8").read().split("## Exchanging weights with PyTorch and NumPy", 1)[1]
section = section.split("\n## ", 1)[0]
c_block = re.search(r"```c\n(.*?)```", section, re.S).group(1)
py_block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
src = open(source, encoding="utf-8").read()
excerpt = textwrap.dedent(src.split("/* README: begin */\n", 1)[1].split("    /* README: end */", 1)[0])
if c_block != excerpt:
    sys.exit("README's C block differs from the README: begin/end part of examples/torch_export.c")
print("README's C block == examples/torch_export.c's marked part")

work = tempfile.mkdtemp(prefix="tapegrad-readme-torch-")
r = subprocess.run([exe, "--out", work], capture_output=True, text=True)
if r.returncode != 0:
    sys.exit(f"torch_export failed: {r.stdout}{r.stderr}")
loss_c = float(re.search(r"^loss (\S+)", r.stdout, re.M).group(1))
try:
    import torch  # noqa: F401
except ImportError:
    print("torch does not import: the README's Python block is not run")
    sys.exit(0)
p = subprocess.run([sys.executable, "-c", py_block], cwd=work, capture_output=True, text=True)
if p.returncode != 0:
    sys.exit(f"the README's Python block failed:\n{p.stderr}")
loss_py = float(re.search(r"^loss (\S+)", p.stdout, re.M).group(1))
print(f"tapegrad: loss {loss_c}, the README's PyTorch block: loss {loss_py}")
sys.exit(0 if abs(loss_c - loss_py) <= 1e-6 else f"losses differ: {loss_c} vs {loss_py}")
