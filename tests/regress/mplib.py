"""Shared helpers of the regression scripts: running mospipe, spotting
sanitizer reports, and writing result rows that run.sh turns into its table.

Result rows are TSV: group, name, status, detail.  status is PASS, FAIL,
NOTRUN (counted as failed: the check could not be run) or WARN (printed,
never counted).
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# The shared corpus sits next to the checkout (../shared/corpus from the
# repository root); $CORPUS overrides.
DEFAULT_CORPUS = Path(os.environ.get("CORPUS") or (REPO.parent / "shared" / "corpus"))

# What a sanitizer writes when it finds something.  A regression run with any
# of these on stderr fails even if the exit status looks right.
SANITIZER_MARKS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
)

RUN_TIMEOUT_S = float(os.environ.get("REGRESS_RUN_TIMEOUT", "120"))


def mospipe_env():
    """Environment for a mospipe run: leak detection on, with the checked-in
    suppressions (DPDK/libpcap internals only); UBSan stops at the first
    report.  Harmless for a build without sanitizers."""
    env = dict(os.environ)
    supp = HERE / "lsan.supp"
    lsan = env.get("LSAN_OPTIONS", "")
    if "suppressions=" not in lsan:
        lsan = (lsan + ":" if lsan else "") + f"suppressions={supp}:print_suppressions=0"
    env["LSAN_OPTIONS"] = lsan
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class Run:
    """Outcome of one mospipe process."""

    def __init__(self, argv, rc, stdout, stderr, timed_out=False):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out

    def sanitizer_report(self):
        """First line of a sanitizer report on stderr, or None."""
        for line in self.stderr.splitlines():
            if any(m in line for m in SANITIZER_MARKS):
                return line.strip()
        return None

    def cmdline(self):
        return " ".join(_quote(a) for a in self.argv)


def _quote(arg):
    if arg and all(c.isalnum() or c in "-_./=,:+@" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def run_mospipe(binary, args, timeout=None):
    binary = Path(binary)
    if not binary.is_absolute() and len(binary.parts) > 1:
        binary = binary.resolve()  # "build/mospipe" is a path, not a PATH lookup
    argv = [str(binary)] + [str(a) for a in args]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                           env=mospipe_env(), timeout=timeout or RUN_TIMEOUT_S,
                           stdin=subprocess.DEVNULL, check=False)
        return Run(argv, p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Run(argv, None, out, err, timed_out=True)
    except OSError as e:
        return Run(argv, 127, "", f"cannot run {binary}: {e}\n")


class Results:
    """Appends result rows to a file (run.sh's table) and mirrors them on
    stdout when no file is given."""

    def __init__(self, path=None):
        self.path = path
        self.rows = []

    def add(self, group, name, status, detail=""):
        detail = " ".join(str(detail).split())  # one line, no tabs
        self.rows.append((group, name, status, detail))
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{group}\t{name}\t{status}\t{detail}\n")
        else:
            print(f"{status:6} {group}/{name} {detail}")

    def failed(self):
        return sum(1 for r in self.rows if r[2] in ("FAIL", "NOTRUN"))


def find_captures(corpus):
    return sorted(p for p in Path(corpus).glob("*/*")
                  if p.suffix in (".pcap", ".pcapng") and p.is_file())


def die(msg):
    print(f"{Path(sys.argv[0]).name}: {msg}", file=sys.stderr)
    sys.exit(2)
