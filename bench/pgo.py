#!/usr/bin/env python3
"""Profile-guided release build of logfetch: the optimised binary releases are cut from.

Steps (about 15 minutes on 2 cores, two full release builds):
  1. `cargo build --release` with `-Cprofile-generate` into target/pgo-gen (an instrumented binary).
  2. Training: the instrumented binary parses data that is NOT the benchmark's input -
     ../shared/bench/gen.py with another seed (7), the ASA header mix, 100,000 lines per format -
     to OCSF and ECS, with and without the raw record; every vendor file in ../shared/samples/;
     and the daemon receiving ASA lines over TCP syslog into the file sink.
  3. `llvm-profdata merge` of the training runs' profiles (not the build scripts').
  4. `cargo build --release` with `-Cprofile-use` into target/pgo; the binary is
     target/pgo/release/logfetch.

Needs llvm-profdata from the same LLVM as rustc: `rustup component add llvm-tools`.
The plain `cargo build --release` stays the default build; this one is what
`python3 bench/run.py --pgo` measures. Only loopback is used (the daemon step).
"""

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: paths, generator and daemon runner)

REPO = run.REPO
GEN_DIR = os.path.join(REPO, "target", "pgo-gen")
PGO_BIN = run.PGO_BIN
USE_DIR = os.path.dirname(os.path.dirname(PGO_BIN))  # target/pgo

# Sample directories of ../shared/samples and the `--vendor` that reads them.
SAMPLES = [
    ("cisco_asa", "cisco", ["*.log"]),
    ("cisco_ftd", "cisco", ["*.log"]),
    ("panos_syslog", "paloalto", ["*.log*"]),
    ("panos_xml", "paloalto", ["*.xml"]),
    ("zscaler_dns", "zscaler", ["*.log"]),
    ("zscaler_fw", "zscaler", ["*.log"]),
    ("sentinelone", "sentinelone", ["*.log", "*.json"]),
]


def llvm_profdata():
    sysroot = subprocess.check_output(["rustc", "--print", "sysroot"], text=True).strip()
    host = next(l.split(":", 1)[1].strip() for l in subprocess.check_output(["rustc", "-vV"], text=True).splitlines() if l.startswith("host:"))
    path = os.path.join(sysroot, "lib", "rustlib", host, "bin", "llvm-profdata")
    if not os.path.exists(path):
        raise SystemExit(f"llvm-profdata not found at {path}: install it with `rustup component add llvm-tools` "
                         "(it must come from the same LLVM as rustc)")
    return path


def cargo_build(target_dir, rustflags):
    env = dict(os.environ, RUSTFLAGS=rustflags)
    run.log(f"cargo build --release -p logfetch --target-dir {os.path.relpath(target_dir, REPO)}  (RUSTFLAGS={rustflags})")
    subprocess.check_call(["cargo", "build", "--release", "--quiet", "-p", "logfetch", "--target-dir", target_dir], cwd=REPO, env=env)


def train(binary, work, n):
    """Runs the instrumented binary over the training workload; profiles land in work/train."""
    data = os.path.join(work, "data")
    os.makedirs(data)
    gen = os.path.join(run.BENCH, "gen.py")
    inputs = {}
    for stem, extra in (("asa", ["--asa-header", "mix"]), ("panos", []), ("zscaler", [])):
        inputs[stem] = os.path.join(data, f"{stem}.log")
        subprocess.check_call([sys.executable, gen, stem, "-n", str(n), "--seed", "7", "-o", inputs[stem]] + extra, stdout=subprocess.DEVNULL)
    null = subprocess.DEVNULL
    for stem, vendor in (("asa", "cisco"), ("panos", "paloalto"), ("zscaler", "zscaler")):
        for extra in ([], ["--no-raw"], ["--format", "ecs"]):
            subprocess.run([binary, "parse", "--vendor", vendor, inputs[stem]] + extra, stdout=null, stderr=null, check=True)
    count = 0
    for sub, vendor, patterns in SAMPLES:
        for pattern in patterns:
            for path in sorted(glob.glob(os.path.join(run.SHARED, "samples", sub, pattern))):
                if path.endswith("expected.json"):
                    continue
                # Samples hold rejects on purpose; the exit status does not matter here.
                for fmt in ("ocsf", "ecs"):
                    subprocess.run([binary, "parse", "--vendor", vendor, "--format", fmt, path], stdout=null, stderr=null)
                count += 1
    run.log(f"trained on {n:,} generated lines per format (seed 7) and {count} sample files")
    d = os.path.join(work, "daemon")
    os.makedirs(d)
    run.bench_daemon(inputs["asa"], n, d, binary)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="generated training lines per format (default 100,000)")
    a = ap.parse_args()
    profdata_tool = llvm_profdata()
    work = tempfile.mkdtemp(prefix="logfetch-pgo-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        # A fixed path keeps RUSTFLAGS, and so cargo's cache of the instrumented build, the same
        # from one run to the next; the build scripts' profiles land there and are not used.
        cargo_build(GEN_DIR, f"-Cprofile-generate={os.path.join(GEN_DIR, 'build-profiles')}")
        train_dir = os.path.join(work, "train")  # the training runs' profiles
        os.makedirs(train_dir)
        # Every training process writes its own profile here (the build scripts' went to
        # target/pgo-gen/build-profiles).
        os.environ["LLVM_PROFILE_FILE"] = os.path.join(train_dir, "logfetch-%p-%m.profraw")
        train(os.path.join(GEN_DIR, "release", "logfetch"), work, a.n)
        del os.environ["LLVM_PROFILE_FILE"]
        raws = glob.glob(os.path.join(train_dir, "*.profraw"))
        if not raws:
            raise SystemExit("the training runs wrote no profile")
        merged = os.path.join(work, "merged.profdata")
        subprocess.check_call([profdata_tool, "merge", "-o", merged] + raws)
        # Cargo rebuilds when RUSTFLAGS change, not when a file they name does: the profile's
        # name carries a hash of its content, so a new profile rebuilds everything.
        digest = hashlib.sha256(open(merged, "rb").read()).hexdigest()[:16]
        profiles = os.path.join(REPO, "target", "pgo-profiles")
        os.makedirs(profiles, exist_ok=True)
        profile = os.path.join(profiles, f"logfetch-{digest}.profdata")
        shutil.copyfile(merged, profile)
        run.log(f"merged {len(raws)} profiles into {os.path.relpath(profile, REPO)}")
        cargo_build(USE_DIR, f"-Cprofile-use={profile}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(PGO_BIN)


if __name__ == "__main__":
    main()
