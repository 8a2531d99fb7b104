"""Helpers shared by the model checks (ctest scripts in this folder)."""
import subprocess
import sys


def run(cmd):
    """Runs `cmd`; on failure prints it with its output and exits 1."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
        sys.exit(1)
    return r.stdout
