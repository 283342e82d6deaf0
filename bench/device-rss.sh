#!/bin/bash
# Peak RSS and per-interval CPU of vmscan stat, export and the TUI on real
# hardware, during memory-cgroup reclaim (cgroup v2, as root, from the
# repository root after `cargo build --release --target x86_64-unknown-linux-musl
# -p vmscan-user`; OUT is where stat.json and the logs go).
set -u
OUT=${OUT:-$(mktemp -d)}
V=$PWD/target/x86_64-unknown-linux-musl/release/vmscan
echo "kernel $(uname -r) possible $(cat /sys/devices/system/cpu/possible) online $(cat /sys/devices/system/cpu/online) nproc $(nproc)"
id -u; mount | grep -E "cgroup2|tracefs" | head -3
$V probes 2>&1 | grep -E "hooks:|unavailable" | head -10
CG=/sys/fs/cgroup/vmscan-dev; mkdir -p $CG; echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; echo 64M > $CG/memory.max
F=/var/tmp/vmscan-big; [ -e $F ] || dd if=/dev/zero of=$F bs=1M count=1024 status=none; sync
load() { sh -c "echo \$\$ > $CG/cgroup.procs; exec cat $F > /dev/null"; }
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
echo 3 > /proc/sys/vm/drop_caches
$V stat --json -d 15 > $OUT/stat.json 2> $OUT/stat.err & A=$!
sleep 4; load; load
grep VmHWM /proc/$A/status; wait $A; echo "stat rc=$?"
python3 -c 'import json;j=json.load(open("'$OUT'/stat.json"));print("self_check",j.get("self_check",{}).get("exact"),"of",j.get("self_check",{}).get("checked"));print({k:v for k,v in j["vmstat"].items() if v})' 2>&1 | head -5
echo 3 > /proc/sys/vm/drop_caches
$V export --listen 127.0.0.1:9465 > /dev/null 2> $OUT/export.err & B=$!
sleep 4; load; t0=$(ticks $B); sleep 10; t1=$(ticks $B)
echo "export cpu ms per 1 s interval: $(( (t1-t0)*10/10 ))"; grep VmHWM /proc/$B/status; kill $B; wait $B
echo 3 > /proc/sys/vm/drop_caches
python3 - "$V" "$CG" "$F" <<'PY'
import os, pty, sys, time, fcntl, termios, struct, signal, select
v, cg, f = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(v, [v])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
def drain(sec):
    end = time.time() + sec
    n = 0
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try: n += len(os.read(fd, 65536))
            except OSError: break
    return n
drain(4)
os.system(f"sh -c 'echo $$ > {cg}/cgroup.procs; exec cat {f} > /dev/null'")
t = lambda: sum(int(x) for x in open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split()[11:13])
t0 = t(); n = drain(10); t1 = t()
hwm = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].strip()
print(f"tui cpu ms per 1 s interval: {(t1-t0)*10/10:.0f}; {hwm}; drew {n} bytes")
os.kill(pid, signal.SIGTERM); drain(2)
PY
rm -f $F; rmdir $CG 2>/dev/null
