#!/usr/bin/env python3
"""Checks that tartand's steady-state functions are laid out together (docs/adr/0020).

layout_check.py <tartand> <cmake/tartand-steady-functions.txt>
Passes when the listed functions found in the binary, all but the 2 % farthest out, lie in
one address range at most 1.3 times their own size; with the default layout they are spread
over the whole of .text.
"""
import subprocess
import sys

binary, listing = sys.argv[1], sys.argv[2]
wanted = [l.strip() for l in open(listing) if l.strip() and not l.startswith("#")]
if not wanted:
    print("the list is empty: nothing to check")
    sys.exit(0)
symbols = {}
out = subprocess.run(["nm", "--defined-only", "-S", binary], check=True, capture_output=True,
                     text=True).stdout
for line in out.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "tTwW":
        symbols.setdefault(f[3], (int(f[0], 16), int(f[1], 16)))
found = sorted(symbols[n] for n in set(wanted) if n in symbols)
if len(found) < len(wanted) // 2:
    sys.exit(f"only {len(found)} of {len(wanted)} listed functions are in {binary}: "
             "make the list again (bench/layout.sh)")
drop = len(found) // 50
inner = found[drop:len(found) - drop] if drop else found
span = inner[-1][0] + inner[-1][1] - inner[0][0]
size = sum(s for _, s in inner)
print(f"{len(found)} of {len(wanted)} listed functions in {binary}; {len(inner)} of them: "
      f"{size // 1024} KiB of code in a range of {span // 1024} KiB")
if span > 1.3 * size:
    sys.exit("the steady-state functions are not grouped: was tartand linked with the "
             "section ordering (cmake/TartanLayout.cmake)?")
