#!/usr/bin/env python3
"""Extracts the ```mlir blocks of a Markdown file for mha-opt.

Writes every block fenced by a line ```mlir and a line ``` to stdout,
separated by `// -----` lines (mha-opt --split-input-file), each preceded by
a comment naming its line in the document. Exits with status 1, saying so
on stderr, when the document has no such block or a block is not closed,
so that a lit test fails rather than checking nothing.

Usage: extract_mlir_blocks.py DOC.md [--count]
  --count  print only the number of blocks
"""

import re
import sys

OPEN = re.compile(r"^```mlir\s*$")
CLOSE = re.compile(r"^```\s*$")


def extract(path):
    blocks = []  # (first line number of the code, lines)
    current = None
    with open(path, encoding="utf-8") as doc:
        for number, line in enumerate(doc, start=1):
            line = line.rstrip("\n")
            if current is None:
                if OPEN.match(line):
                    current = (number + 1, [])
            elif CLOSE.match(line):
                blocks.append(current)
                current = None
            else:
                current[1].append(line)
    if current is not None:
        sys.exit(f"{path}:{current[0] - 1}: ```mlir block is not closed")
    return blocks


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--count"):
        sys.exit(__doc__)
    path = argv[1]
    blocks = extract(path)
    if not blocks:
        sys.exit(f"{path}: no ```mlir block found")
    if len(argv) == 3:
        print(len(blocks))
        return
    chunks = []
    for first_line, lines in blocks:
        if not any(l.strip() for l in lines):
            sys.exit(f"{path}:{first_line - 1}: empty ```mlir block")
        chunks.append(f"// {path}:{first_line}\n" + "\n".join(lines) + "\n")
    sys.stdout.write("\n// -----\n\n".join(chunks))


if __name__ == "__main__":
    main(sys.argv)
