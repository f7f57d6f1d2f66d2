"""Run a command and report its peak memory: `python -m bench.rusage <output> <command...>`.

A child's `ru_maxrss` also counts the memory of the process that spawned it (fork, or
vfork, shares or copies the parent's pages before exec): spawned straight from the
benchmark, which holds seeded data, a command would look as big as the benchmark. This
small launcher spawns it instead, then reads `getrusage(RUSAGE_CHILDREN)` once the command
has ended, and writes the peak in kilobytes to <output>.
"""

import resource
import subprocess
import sys


def main(output, command):
    code = subprocess.call(command)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(output, "w") as file:
        file.write(str(peak))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
