#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in /modules/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
mdev -s 2>/dev/null
mount -t tracefs nodev /sys/kernel/tracing; mount -t debugfs nodev /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf; mount -t tmpfs tmpfs /tmp
mkdir -p /mnt; mount -t ext4 /dev/vda /mnt || echo "@@ERROR no disk"
S=$(sed -n 's/.*vmscan.scenarios=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "@@KERNEL $(uname -r)"
has() { case ",$S," in *",$1,"*) return 0;; esac; return 1; }
# A scenario asked for: its start marked with the guest's uptime, so the
# host can say how long each took and which one a limit cut short.
run() { has "$1" || return 1; echo "@@AT $1 $(cut -d' ' -f1 /proc/uptime)"; }
block() { echo "@@BEGIN $1"; cat "$2"; echo "@@END $1"; }
# /proc/vmstat with every CPU's pending deltas folded in first: node stats
# (7.x keeps pgscan/pgsteal per node) reach it only when a CPU's delta
# passes its threshold, so an unfolded read can lag what vmscan counted.
vmstat() { echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null; cat /proc/vmstat; }
# Background jobs of a non-interactive shell ignore SIGINT: stop vmscan with
# SIGTERM. Every run writes its own files, so waitc never sees an older run.
waitc() { i=0; while [ $i -lt 900 ]; do grep -q "vmscan: counting" "$1" 2>/dev/null && return 0; sleep 0.1; i=$((i+1)); done; echo "@@ERROR $1 never counted"; cat "$1"; }
# The terminal UI on ttyS1 (a real serial terminal whose output QEMU
# discards; the caller sizes it), in its own session so that ttyS1 is its
# controlling terminal, stderr to $1; its pid in C. It prints nothing when
# attached: wait until its attachments (bpf links, perf events) stop growing.
start_tui() {
  setsid sh -c 'exec vmscan < /dev/ttyS1 > /dev/ttyS1 2> '$1 & C=$!
  t=0; was=-1
  while [ $t -lt 180 ]; do
    now=$(ls -l /proc/$C/fd 2>/dev/null | grep -c -e bpf_link -e perf_event)
    [ "$now" -gt 10 ] && [ "$now" = "$was" ] && break
    was=$now; sleep 1; t=$((t+1))
  done
}
# `vmscan snapshot` beside a workload in memory cgroup $2 (mv if not given;
# $1: the files' prefix; its pid in SNAP): started before it, with the
# cgroup's memory.stat read once it counts...
memcg_moves_start() {
  vmscan snapshot --json -d 900 > /tmp/$1-snap.json 2> /tmp/$1-snap.err & SNAP=$!
  waitc /tmp/$1-snap.err
  cat $CG/${2:-mv}/memory.stat > /tmp/$1.m0
}
# ... and after it: memory.stat again once the kernel's periodic memcg stat
# flush (every 2 s, 5.15+) has run, then the snapshot, as blocks $2-snap,
# $2-memcg-before and $2-memcg-after ($3: the cgroup, mv if not given).
memcg_moves_end() {
  sleep 3; cat $CG/${3:-mv}/memory.stat > /tmp/$1.m1
  kill -TERM $SNAP; wait $SNAP
  block $2-snap /tmp/$1-snap.json; block $2-snap-err /tmp/$1-snap.err
  block $2-memcg-before /tmp/$1.m0; block $2-memcg-after /tmp/$1.m1
}
# The configuration: the LRU (vmscan.lru=y|n switches MGLRU) and the
# cgroup version (vmscan.cgroup=1 mounts the v1 memory controller; v2
# otherwise). $CG is the memory hierarchy, $MAX its limit file.
L=$(sed -n 's/.*vmscan.lru=\([yn]\).*/\1/p' /proc/cmdline)
if [ -n "$L" ]; then echo $L > /sys/kernel/mm/lru_gen/enabled || echo "@@ERROR cannot switch MGLRU to $L"; fi
echo "@@LRU $(cat /sys/kernel/mm/lru_gen/enabled 2>/dev/null || echo none)"
if grep -q "vmscan.cgroup=1" /proc/cmdline; then
  mount -t tmpfs cgroup /sys/fs/cgroup; mkdir -p /sys/fs/cgroup/memory
  mount -t cgroup -o memory none /sys/fs/cgroup/memory || echo "@@ERROR no cgroup v1 memory controller"
  CG=/sys/fs/cgroup/memory; MAX=memory.limit_in_bytes
else
  mount -t cgroup2 none /sys/fs/cgroup; echo +memory > /sys/fs/cgroup/cgroup.subtree_control
  CG=/sys/fs/cgroup; MAX=memory.max
fi
echo "@@CGROUP $CG"
mkdir -p $CG/t; echo 32M > $CG/t/$MAX
if has shell; then setsid cttyhack sh; poweroff -f; fi
if run hooks; then
  # The tracepoints' format files as this kernel has them (the fixtures).
  for f in /sys/kernel/tracing/events/vmscan/*/format /sys/kernel/tracing/events/pagemap/*/format /sys/kernel/tracing/events/migrate/mm_migrate_pages/format; do
    e=${f%/format}; block "format-${e##*/}" $f
  done
  vmscan probes --json > /tmp/p1 2>&1; block probes-fentry /tmp/p1
  vmscan --no-fentry probes --json > /tmp/p2 2>&1; block probes-kprobe /tmp/p2
  RUST_LOG=vmscan=debug vmscan probes > /tmp/p3 2>&1; block probes-debug /tmp/p3
fi
if run truth; then
  dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches
  # The same window through each tracepoint mechanism: tp_btf (the
  # default) beside fentry, the classic tracepoint beside kprobes, raw_tp.
  # The fentry/kprobe comparison starts last: another instance starting up
  # (loading its programs) can make kprobes miss.
  vmscan --no-fentry --tracepoints tracepoint stat --json > /tmp/kp.json 2> /tmp/kp.err & B=$!
  waitc /tmp/kp.err
  vmscan --tracepoints raw_tp stat --json > /tmp/raw.json 2> /tmp/raw.err & C=$!
  waitc /tmp/raw.err
  vmscan --compare-kprobes stat --json > /tmp/fe.json 2> /tmp/fe.err & A=$!
  waitc /tmp/fe.err
  vmstat > /tmp/v0; cat $CG/t/memory.stat > /tmp/m0
  sh -c 'echo $$ > '$CG'/t/cgroup.procs; exec cat /mnt/big > /dev/null'
  vmstat > /tmp/v1; cat $CG/t/memory.stat > /tmp/m1
  # The fentry/kprobe comparison stops first and alone: the others' exit
  # tears down their address spaces, which marks their mapped pages
  # accessed (folio_mark_accessed) while it reads one counter after the
  # other.
  kill -TERM $A; wait $A; kill -TERM $B $C; wait $B; wait $C
  block truth-fentry /tmp/fe.json; block truth-kprobe /tmp/kp.json; block truth-raw /tmp/raw.json
  block vmstat-before /tmp/v0; block vmstat-after /tmp/v1
  block memstat-before /tmp/m0; block memstat-after /tmp/m1
fi
if run numa || run mglru; then
  dd if=/dev/zero of=/mnt/node bs=1M count=640 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches
  vmscan snapshot --json -d 20 > /tmp/numa.json 2> /tmp/numa.err & A=$!
  vmscan stat --json > /tmp/numa-stat.json 2> /tmp/numa-stat.err & B=$!
  waitc /tmp/numa.err; waitc /tmp/numa-stat.err
  vmscan lab-read --node 0 /mnt/node; vmscan lab-read --node 0 /mnt/node
  kill -TERM $A $B; wait $A; wait $B
  block numa /tmp/numa.json; block numa-stat /tmp/numa-stat.json
fi
if run model; then
  vmscan snapshot --json -d 3 > /tmp/m.json 2> /tmp/m.err & A=$!
  waitc /tmp/m.err; sleep 2.7; cat /sys/devices/system/node/node*/meminfo > /tmp/mi; wait $A
  block model /tmp/m.json; block meminfo /tmp/mi
fi
if run exit; then
  dd if=/dev/zero of=/mnt/small bs=1M count=32 2>/dev/null; sync
  # exec: each run execs `vmscan --version` after touching the file, so its
  # old address space is torn down by a live task (the new image's exit is
  # teardown by an exiting one); the report keeps calls inside exit_mmap.
  for mode in fentry kprobe sequential exec; do
    opt=""; [ $mode = kprobe ] && opt="--no-fentry"
    only="--exiting-only"; [ $mode = exec ] && only="--teardown-only"
    # Each mode starts from the file's pages unreferenced (they leave the
    # page cache once no process maps them): MGLRU's tiers rise the same way.
    sync; echo 3 > /proc/sys/vm/drop_caches
    vmscan $opt access --json $only --comm vmscan -d 120 > /tmp/x-$mode.json 2> /tmp/x-$mode.err & A=$!
    waitc /tmp/x-$mode.err
    i=0; while [ $i -lt 10 ]; do
      case $mode in
        sequential) vmscan lab-map --advice sequential /mnt/small;;
        exec) vmscan lab-map --exec /bin/vmscan /mnt/small -- --version > /dev/null;;
        *) vmscan lab-map /mnt/small;;
      esac
      i=$((i+1)); done
    kill -TERM $A; wait $A
    block exit-$mode /tmp/x-$mode.json
  done
fi
if run swap; then
  # Anonymous reclaim with swap: shmem (swap-backed, on the anon LRU) and a
  # file read in a 48 MiB cgroup (64 MiB of shmem cannot all stay), zram as
  # swap, at three swappiness values.
  echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0 || echo "@@ERROR no zram swap"
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  mkdir -p $CG/s; echo 48M > $CG/s/$MAX
  for sw in 0 60 200; do
    # cgroup v1 reclaims a group at its own memory.swappiness (v2 and the
    # root use vm.swappiness).
    echo $sw > /proc/sys/vm/swappiness; [ -e $CG/s/memory.swappiness ] && echo $sw > $CG/s/memory.swappiness
    echo 3 > /proc/sys/vm/drop_caches
    vmscan stat --json > /tmp/sw$sw.json 2> /tmp/sw$sw.err & A=$!
    waitc /tmp/sw$sw.err
    vmstat > /tmp/sw$sw.v0
    sh -c 'echo $$ > '$CG'/s/cgroup.procs; dd if=/dev/urandom of=/tmp/shm bs=1M count=64 2>/dev/null; cat /mnt/big > /dev/null; cat /mnt/big > /dev/null; rm /tmp/shm'
    vmstat > /tmp/sw$sw.v1
    kill -TERM $A; wait $A
    block swap-$sw /tmp/sw$sw.json; block swap-$sw-before /tmp/sw$sw.v0; block swap-$sw-after /tmp/sw$sw.v1
  done
  swapoff /dev/zram0; echo 60 > /proc/sys/vm/swappiness
fi
if run refault; then
  # Thrashing: a 32 MiB cgroup reads a 48 MiB file four times on node 0 (every pass
  # after the first refaults). Then its limit is raised by what vmscan's
  # what-if curve says avoids 90% of the refaults, and the reads run again.
  # The shadow entries live in the page cache's xarray nodes, which the
  # shadow shrinker reclaims per cgroup and node, allowing each lruvec about
  # one node per 8 pages: the file is written from inside the cgroup and
  # read on node 0's CPUs (lab-read pins them), so the nodes belong to the
  # lruvec that evicts. After the other scenarios, 5.10 once lost 543 of
  # them (workingset_nodereclaim) and with them 31,000 refaults.
  # (Written under a 128 MiB limit: 7.2 OOM-killed dd writing 48 MiB of
  # dirty pages into 32 MiB.)
  mkdir -p $CG/r; echo 128M > $CG/r/$MAX
  rm -f /mnt/thrash; sh -c 'echo $$ > '$CG'/r/cgroup.procs; exec dd if=/dev/zero of=/mnt/thrash bs=1M count=48 2>/dev/null'; sync
  echo 32M > $CG/r/$MAX
  # Phase 3 raises it by half that: below the curve's knee.
  for phase in 1 2 3; do
    if [ $phase = 1 ]; then echo 32M > $CG/r/$MAX; else
      extra=$(vmscan lab-extra --memcg /r --percent 90 /tmp/rf1.json) || break
      [ $phase = 3 ] && extra=$((extra / 2))
      echo "@@EXTRA $phase $extra"; echo $((33554432 + extra)) > $CG/r/$MAX
    fi
    echo 3 > /proc/sys/vm/drop_caches
    vmscan refaults --json -d 600 > /tmp/rf$phase.json 2> /tmp/rf$phase.err & A=$!
    waitc /tmp/rf$phase.err
    # Phase 1 also runs stat, whose self-check covers workingset_* (started
    # after the first is counting: TCG guests have oopsed when two attach
    # fentry programs at once).
    # And `vmscan snapshot`, whose self-check takes /r in when the first
    # pass makes it active and checks its refaults against memory.stat.
    B=""; N=""
    if [ $phase = 1 ]; then
      vmscan stat --json > /tmp/rfs.json 2> /tmp/rfs.err & B=$!; waitc /tmp/rfs.err
      vmscan snapshot --json -d 900 > /tmp/rfn.json 2> /tmp/rfn.err & N=$!; waitc /tmp/rfn.err
    fi
    # stat_refresh folds the per-CPU deltas into /proc/vmstat's node counters.
    echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null; vmstat > /tmp/rf$phase.v0; cat $CG/r/memory.stat > /tmp/rf$phase.m0
    # Bound to node 0: the kernel's refault clock is per node and cgroup.
    # Phase 1 first makes /r active (a 64 KiB read) and waits for the
    # snapshot to take it into its self-check before the passes.
    W=; [ $phase = 1 ] && W='head -c 65536 /mnt/thrash > /dev/null; sleep 3; '
    sh -c 'echo $$ > '$CG'/r/cgroup.procs; '"$W"'exec 3< /mnt/thrash; for i in 1 2 3 4; do vmscan lab-read --node 0 /mnt/thrash; done'
    echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null; vmstat > /tmp/rf$phase.v1; cat $CG/r/memory.stat > /tmp/rf$phase.m1
    kill -TERM $A $B $N; wait $A $B $N
    [ -n "$B" ] && block refault-stat /tmp/rfs.json
    [ -n "$N" ] && { block refault-snap /tmp/rfn.json; block refault-snap-err /tmp/rfn.err; }
    block refault-$phase /tmp/rf$phase.json; block refault-$phase-err /tmp/rf$phase.err
    block refault-$phase-before /tmp/rf$phase.v0; block refault-$phase-after /tmp/rf$phase.v1
    block refault-$phase-memcg-before /tmp/rf$phase.m0; block refault-$phase-memcg-after /tmp/rf$phase.m1
  done
  # Anon refaults, after the file phases (run after an anon phase, 5.10 once
  # lost the file's shadow entries to the shadow shrinker: 635
  # workingset_nodereclaim, no refault to see): 40 MiB of shmem in the
  # 32 MiB cgroup, swapped to zram and read back twice.
  [ "$(cat /sys/block/zram0/disksize)" != 0 ] || echo 256M > /sys/block/zram0/disksize
  mkswap /dev/zram0 > /dev/null; swapon /dev/zram0 || echo "@@ERROR no zram swap"
  echo 32M > $CG/r/$MAX; echo 3 > /proc/sys/vm/drop_caches
  vmscan refaults --json -d 600 > /tmp/rfa.json 2> /tmp/rfa.err & A=$!
  waitc /tmp/rfa.err
  echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null; vmstat > /tmp/rfa.v0; cat $CG/r/memory.stat > /tmp/rfa.m0
  sh -c 'echo $$ > '$CG'/r/cgroup.procs; dd if=/dev/urandom of=/tmp/shm bs=1M count=40 2>/dev/null; cat /tmp/shm > /dev/null; cat /tmp/shm > /dev/null; rm /tmp/shm'
  echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null; vmstat > /tmp/rfa.v1; cat $CG/r/memory.stat > /tmp/rfa.m1
  kill -TERM $A; wait $A
  swapoff /dev/zram0
  block refault-anon /tmp/rfa.json; block refault-anon-err /tmp/rfa.err
  block refault-anon-before /tmp/rfa.v0; block refault-anon-after /tmp/rfa.v1
  block refault-anon-memcg-before /tmp/rfa.m0; block refault-anon-memcg-after /tmp/rfa.m1
fi
if run ancestor; then
  # Reclaim of an ancestor: /p has the limit, the reading task sits in /p/c
  # (v2: the child has its own memory controller). The kernel reclaims /p
  # (mem_over_limit); vmscan must name /p, not the task's /p/c.
  mkdir -p $CG/p; echo 32M > $CG/p/$MAX
  [ -e $CG/p/cgroup.subtree_control ] && echo +memory > $CG/p/cgroup.subtree_control
  mkdir -p $CG/p/c
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  echo 3 > /proc/sys/vm/drop_caches
  vmscan snapshot --json -d 600 > /tmp/an.json 2> /tmp/an.err & A=$!
  waitc /tmp/an.err
  sh -c 'echo $$ > '$CG'/p/c/cgroup.procs; exec cat /mnt/big > /dev/null'
  sleep 1.2; kill -TERM $A; wait $A
  block ancestor /tmp/an.json
fi
if run softlimit; then
  if [ "$MAX" = memory.limit_in_bytes ]; then
    # Soft-limit reclaim (cgroup v1 only): /sl holds 256 MiB of page cache on
    # node 0, over its 16 MiB soft limit; then the root cgroup reads 640 MiB
    # on node 0 twice and kswapd0 reclaims, soft-limit excess first.
    mkdir -p $CG/sl; echo 16M > $CG/sl/memory.soft_limit_in_bytes
    dd if=/dev/zero of=/mnt/sl bs=1M count=256 2>/dev/null
    [ -e /mnt/node ] || dd if=/dev/zero of=/mnt/node bs=1M count=640 2>/dev/null
    sync; echo 3 > /proc/sys/vm/drop_caches
    sh -c 'echo $$ > '$CG'/sl/cgroup.procs; exec vmscan lab-read --node 0 /mnt/sl'
    vmscan stat --json > /tmp/sl.json 2> /tmp/sl.err & A=$!
    waitc /tmp/sl.err
    vmstat > /tmp/sl.v0
    vmscan lab-read --node 0 /mnt/node; vmscan lab-read --node 0 /mnt/node
    vmstat > /tmp/sl.v1
    kill -TERM $A; wait $A
    block softlimit /tmp/sl.json; block softlimit-before /tmp/sl.v0; block softlimit-after /tmp/sl.v1
  else
    echo "@@BEGIN softlimit-none"; echo "cgroup v2 has no soft limit"; echo "@@END softlimit-none"
  fi
fi
if run proactive; then
  # Proactive reclaim, where the kernel has it: a cgroup's memory.reclaim
  # (cgroup v2, 5.19+) and a node's sysfs reclaim file (6.16+), each asked
  # for 32 MiB of the 192 MiB of page cache /pr holds, under vmscan stat.
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  echo 3 > /proc/sys/vm/drop_caches
  mkdir -p $CG/pr
  sh -c 'echo $$ > '$CG'/pr/cgroup.procs; exec cat /mnt/big > /dev/null'
  : > /tmp/pr.paths
  vmscan stat --json > /tmp/pr.json 2> /tmp/pr.err & A=$!
  waitc /tmp/pr.err
  # And `vmscan snapshot`, whose self-check takes /pr in once a page-cache
  # write shows it active (the wait), and checks the pgscan / pgsteal it
  # keys by lruvec against /pr's memory.stat (cgroup v2).
  memcg_moves_start pr pr
  sh -c 'echo $$ > '$CG'/pr/cgroup.procs; exec dd if=/dev/zero of=/tmp/pr-warm bs=64k count=4 2>/dev/null'; sleep 3
  vmstat > /tmp/pr.v0
  if [ -e $CG/pr/memory.reclaim ]; then echo 32M > $CG/pr/memory.reclaim 2>/dev/null; echo memory.reclaim >> /tmp/pr.paths; fi
  if [ -e /sys/devices/system/node/node0/reclaim ]; then echo 32M > /sys/devices/system/node/node0/reclaim 2>/dev/null; echo node-reclaim >> /tmp/pr.paths; fi
  vmstat > /tmp/pr.v1
  kill -TERM $A; wait $A
  memcg_moves_end pr proactive pr; rm -f /tmp/pr-warm
  block proactive /tmp/pr.json; block proactive-paths /tmp/pr.paths
  block proactive-before /tmp/pr.v0; block proactive-after /tmp/pr.v1
fi
if run thp; then
  # Large folios through reclaim: 64 MiB of anonymous memory in transparent
  # huge pages, written twice in a 32 MiB cgroup, zram as swap.
  if [ -e /sys/kernel/mm/transparent_hugepage/enabled ]; then
    echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
    [ "$(cat /sys/block/zram0/disksize)" != 0 ] || echo 256M > /sys/block/zram0/disksize
    mkswap /dev/zram0 > /dev/null; swapon /dev/zram0 || echo "@@ERROR no zram swap"
    mkdir -p $CG/thp; echo 32M > $CG/thp/$MAX
    vmscan stat --json > /tmp/thp.json 2> /tmp/thp.err & A=$!
    waitc /tmp/thp.err
    vmstat > /tmp/thp.v0
    sh -c 'echo $$ > '$CG'/thp/cgroup.procs; exec vmscan lab-thp 64' || echo "@@ERROR lab-thp failed"
    vmstat > /tmp/thp.v1
    kill -TERM $A; wait $A
    swapoff /dev/zram0
    block thp /tmp/thp.json; block thp-before /tmp/thp.v0; block thp-after /tmp/thp.v1
  fi
fi
if run collapse; then
  # khugepaged collapsing into a full memory cgroup: 16 MiB of anonymous
  # memory in small pages, the rest of the 32 MiB cgroup filled with page
  # cache, then MADV_HUGEPAGE. khugepaged charges each huge page it makes to
  # the cgroup first and reclaims there itself: 7.x counts that as
  # pgscan/pgsteal_khugepaged (reclaimer_offset(): who reclaims), the
  # kernels before keep it out of every reclaimer counter (cgroup reclaim).
  T=/sys/kernel/mm/transparent_hugepage
  if [ -e $T/khugepaged/scan_sleep_millisecs ]; then
    echo madvise > $T/enabled
    echo 10 > $T/khugepaged/scan_sleep_millisecs; echo 10 > $T/khugepaged/alloc_sleep_millisecs
    echo 4096 > $T/khugepaged/pages_to_scan
    [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
    echo 3 > /proc/sys/vm/drop_caches
    mkdir -p $CG/kh; echo 32M > $CG/kh/$MAX
    vmscan stat --json > /tmp/kh.json 2> /tmp/kh.err & A=$!
    waitc /tmp/kh.err
    vmstat > /tmp/kh.v0
    sh -c 'echo $$ > '$CG'/kh/cgroup.procs; exec vmscan lab-collapse 16 --fill /mnt/big --secs 60' > /tmp/kh.out 2>&1 || echo "@@ERROR lab-collapse failed"
    vmstat > /tmp/kh.v1
    kill -TERM $A; wait $A
    echo 10000 > $T/khugepaged/scan_sleep_millisecs; echo 60000 > $T/khugepaged/alloc_sleep_millisecs
    echo 4096 > $T/khugepaged/pages_to_scan
    block collapse /tmp/kh.json; block collapse-out /tmp/kh.out
    block collapse-before /tmp/kh.v0; block collapse-after /tmp/kh.v1
  fi
fi
if run pageout; then
  # MADV_PAGEOUT of 64 MiB of anonymous memory with swap off: reclaim_pages()
  # (outside any reclaim pass) cannot swap it out and activates every page.
  # Its activations reach vmscan only through mm_vmscan_reclaim_pages (7.x):
  # elsewhere the self-check must name the divergence.
  swapoff -a 2>/dev/null
  vmscan stat --json > /tmp/po.json 2> /tmp/po.err & A=$!
  waitc /tmp/po.err
  vmstat > /tmp/po.v0
  vmscan lab-pageout 64 || echo "@@ERROR lab-pageout failed"
  vmstat > /tmp/po.v1
  kill -TERM $A; wait $A
  block pageout /tmp/po.json; block pageout-before /tmp/po.v0; block pageout-after /tmp/po.v1
fi
if run lazyfree; then
  # MADV_FREE of 16 MiB of anonymous memory in small pages and 16 MiB in
  # transparent huge pages: the lazyfree batch (lru_lazyfree, no
  # tracepoint) counts pglazyfree per page, 512 for a huge page.
  # Once by fentry, once by kprobe.
  # The workload runs in memory cgroup mv (no limit, so no reclaim): by
  # fentry, `vmscan snapshot` also runs, and its lruvec of mv must hold the
  # pages, as mv's memory.stat counts them (cgroup v2).
  T=/sys/kernel/mm/transparent_hugepage/enabled
  [ -e $T ] && echo madvise > $T
  mkdir -p $CG/mv
  for m in fentry kprobe; do
    F=; [ $m = kprobe ] && F=--no-fentry
    # Files of their own per run: the background job truncates its
    # redirections only once it runs, after waitc may have read the last.
    vmscan $F stat --json > /tmp/lf-$m.json 2> /tmp/lf-$m.err & A=$!
    waitc /tmp/lf-$m.err
    # By fentry, /mv first shows activity (a page-cache write) and waits
    # for the snapshot to put it under its memory.stat self-check (the
    # interval after; it is checked from the one after that).
    W=; [ $m = fentry ] && W='dd if=/dev/zero of=/tmp/mv-warm bs=64k count=4 2>/dev/null; sleep 3; '
    [ $m = fentry ] && memcg_moves_start lf
    vmstat > /tmp/lf-$m.v0
    sh -c 'echo $$ > '$CG'/mv/cgroup.procs; '"$W"'exec vmscan lab-lazyfree 16' > /tmp/lf-$m.out 2>&1 || echo "@@ERROR lab-lazyfree failed: $(cat /tmp/lf-$m.out)"
    vmstat > /tmp/lf-$m.v1
    kill -TERM $A; wait $A
    [ $m = fentry ] && memcg_moves_end lf lazyfree-$m
    block lazyfree-$m /tmp/lf-$m.json; block lazyfree-$m-before /tmp/lf-$m.v0
    block lazyfree-$m-after /tmp/lf-$m.v1; block lazyfree-$m-out /tmp/lf-$m.out
    block lazyfree-$m-err /tmp/lf-$m.err
  done
  rm -f /tmp/mv-warm
fi
if run deactivate; then
  # The deactivation batches, which fire no tracepoint: MADV_COLD of a
  # mapped 16 MiB file made active (lru_deactivate), and
  # POSIX_FADV_DONTNEED of a 16 MiB file made active, half of it mapped and
  # half held by pipes (lru_deactivate_file). Once by fentry, once by kprobe.
  # In memory cgroup mv, with `vmscan snapshot` beside the fentry run, as
  # for lazyfree.
  cat /sys/kernel/mm/lru_gen/enabled > /tmp/dx.lrugen 2>/dev/null || echo none > /tmp/dx.lrugen
  block deactivate-lrugen /tmp/dx.lrugen
  mkdir -p $CG/mv
  for m in fentry kprobe; do
    F=; [ $m = kprobe ] && F=--no-fentry
    vmscan $F stat --json > /tmp/dx-$m.json 2> /tmp/dx-$m.err & A=$!
    waitc /tmp/dx-$m.err
    [ $m = fentry ] && memcg_moves_start dx
    # By fentry, /mv first shows activity and waits to join the snapshot's
    # memory.stat self-check, as for lazyfree.
    W=; [ $m = fentry ] && W='dd if=/dev/zero of=/tmp/mv-warm bs=64k count=4 2>/dev/null; sleep 3; '
    vmstat > /tmp/dx-$m.v0
    sh -c 'echo $$ > '$CG'/mv/cgroup.procs; '"$W"'exec vmscan lab-deactivate 16 /mnt' > /tmp/dx-$m.out 2>&1 || echo "@@ERROR lab-deactivate failed: $(cat /tmp/dx-$m.out)"
    vmstat > /tmp/dx-$m.v1
    kill -TERM $A; wait $A
    [ $m = fentry ] && memcg_moves_end dx deactivate-$m
    rm -f /mnt/cold /mnt/inval /tmp/mv-warm
    block deactivate-$m /tmp/dx-$m.json; block deactivate-$m-before /tmp/dx-$m.v0
    block deactivate-$m-after /tmp/dx-$m.v1; block deactivate-$m-out /tmp/dx-$m.out
    block deactivate-$m-err /tmp/dx-$m.err
  done
fi
if run mlock; then
  # The mlock batch, which fires no tracepoint: a 16 MiB file on /mnt
  # mapped and mlocked (its file list -> unevictable), 8 MiB of anonymous
  # memory mlocked before it is touched (new folios straight onto the
  # unevictable list), then both munlocked. Once by fentry, once by kprobe.
  for m in fentry kprobe; do
    F=; [ $m = kprobe ] && F=--no-fentry
    vmscan $F stat --json > /tmp/ml-$m.json 2> /tmp/ml-$m.err & A=$!
    waitc /tmp/ml-$m.err
    vmscan lab-mlock 16 /mnt > /tmp/ml-$m.out 2>&1 || echo "@@ERROR lab-mlock failed: $(cat /tmp/ml-$m.out)"
    kill -TERM $A; wait $A
    block mlock-$m /tmp/ml-$m.json; block mlock-$m-err /tmp/ml-$m.err
    block mlock-$m-out /tmp/ml-$m.out
  done
fi
if run irqctx; then
  # The kswapd wake-up hook's interrupt-context reader where the context is
  # known (softirq entry, the local timer's hardirq, the command's own
  # getppid calls), by each way it can read it: this kernel's default (the
  # preempt_count where kallsyms lists per-CPU data) and the kernel stack.
  for m in default stack; do
    F=; [ $m = stack ] && F=--by-stack
    vmscan lab-irq-context --seconds 3 $F > /tmp/ic-$m.json 2> /tmp/ic-$m.err
    block irqctx-$m /tmp/ic-$m.json; block irqctx-$m-err /tmp/ic-$m.err
  done
fi
if run compact; then
  # Compaction's migrate scanner, which isolates inline: 64 MiB of page
  # cache on /mnt with every other page dropped, then compact_memory. The
  # kernel's own total of each call's isolations (compaction:
  # mm_compaction_isolate_migratepages nr_taken, in a tracefs instance
  # enabled while vmscan counts) is the reference. Proactive compaction is
  # off meanwhile. Once by fentry, once by kprobe.
  T=/sys/kernel/tracing/instances/vmscan-compact
  P0=$(cat /proc/sys/vm/compaction_proactiveness 2>/dev/null)
  echo 0 > /proc/sys/vm/compaction_proactiveness 2>/dev/null
  for m in fentry kprobe; do
    F=; [ $m = kprobe ] && F=--no-fentry
    vmstat > /tmp/cp-$m.v0
    vmscan $F stat --json > /tmp/cp-$m.json 2> /tmp/cp-$m.err & A=$!
    waitc /tmp/cp-$m.err
    mkdir -p $T; echo 8192 > $T/buffer_size_kb
    echo 1 > $T/events/compaction/mm_compaction_isolate_migratepages/enable
    vmscan lab-compact 64 /mnt > /tmp/cp-$m.out 2>&1 || echo "@@ERROR lab-compact failed: $(cat /tmp/cp-$m.out)"
    echo 0 > $T/events/compaction/mm_compaction_isolate_migratepages/enable
    kill -TERM $A; wait $A
    vmstat > /tmp/cp-$m.v1
    awk '/mm_compaction_isolate_migratepages/ { for (i = 1; i <= NF; i++) if ($i ~ /^nr_taken=/) { sub(/nr_taken=/, "", $i); s += $i; n++ } }
      END { print s + 0, n + 0 }' $T/trace > /tmp/cp-$m.taken
    cat $T/per_cpu/cpu*/stats 2>/dev/null | awk '/^overrun:/ { s += $2 } END { print s + 0 }' > /tmp/cp-$m.overrun
    rmdir $T
    block compact-$m /tmp/cp-$m.json; block compact-$m-err /tmp/cp-$m.err
    block compact-$m-out /tmp/cp-$m.out; block compact-$m-taken /tmp/cp-$m.taken
    block compact-$m-overrun /tmp/cp-$m.overrun
    block compact-$m-before /tmp/cp-$m.v0; block compact-$m-after /tmp/cp-$m.v1
  done
  [ -n "$P0" ] && echo $P0 > /proc/sys/vm/compaction_proactiveness
fi
if run kretmiss; then
  # Many tasks inside shrink_node at once, hooked by kprobe+kretprobe: 24
  # readers reclaiming one 16 MiB cgroup, each reading its own 2 MiB of
  # /mnt/big. (32 x 3 MiB made 1.8 million shrink_node calls on 5.10 under
  # TCG, 260 s for the scenario: more than CI's boot limit allowed; 16 x 2
  # MiB left the default kretprobe only 4% of 7.2's returns to miss.) vmscan's own kretprobes (tracefs, 1024 return instances) see
  # every return; with the kernel's default (--kretprobe-instances 0:
  # max(10, 2 x CPUs)) most find no instance, and the kernel counts those
  # missed returns (6.7+) in the kprobe's link; before that they are silent.
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  mkdir -p $CG/km; echo 16M > $CG/km/$MAX
  # How often the readers pile up inside shrink_node varies from boot to
  # boot (6.12 once made 2,420 calls, all returns seen; usually 90,000 with
  # half missed): the default's run is repeated, up to 3 times, until some
  # return went unseen, and the check says which try it used.
  km_unseen() {
    awk '/"name": "shrink_node"/ { f = 1 }
      f && /"events":/ { gsub(/[^0-9]/, ""); e = $0 }
      f && /"returns":/ { gsub(/[^0-9]/, ""); r = $0 }
      f && /^ *}/ { print e - r; exit }' "$1" 2>/dev/null
  }
  for m in tracefs default; do
    I=; [ $m = default ] && I="--kretprobe-instances 0"
    t=0
    while :; do
      t=$((t+1))
      echo 3 > /proc/sys/vm/drop_caches
      vmscan --no-fentry $I stat --json > /tmp/km-$m.json 2> /tmp/km-$m.err & A=$!
      waitc /tmp/km-$m.err
      grep -c "^r1024:vmscan_kret/.* shrink_node" /sys/kernel/tracing/kprobe_events > /tmp/km-$m.made
      i=0; P=
      while [ $i -lt 24 ]; do
        sh -c 'echo $$ > '$CG'/km/cgroup.procs; exec dd if=/mnt/big of=/dev/null bs=1M skip='$((i*6))' count=2 2>/dev/null' & P="$P $!"
        i=$((i+1))
      done
      for p in $P; do wait $p; done
      kill -TERM $A; wait $A
      grep -c vmscan_kret /sys/kernel/tracing/kprobe_events > /tmp/km-$m.left
      u=$(km_unseen /tmp/km-$m.json)
      { [ $m = tracefs ] || [ $t -ge 3 ] || [ "${u:-0}" -gt 0 ]; } && break
    done
    echo $t > /tmp/km-$m.tries
    block kretmiss-$m /tmp/km-$m.json; block kretmiss-$m-err /tmp/km-$m.err
    block kretmiss-$m-made /tmp/km-$m.made; block kretmiss-$m-left /tmp/km-$m.left
    block kretmiss-$m-tries /tmp/km-$m.tries
  done
  # Stopped while starting, once its kretprobes on shrink_node and then
  # workingset_refault are made (vmscan sends itself the SIGINT:
  # VMSCAN_TEST_SIGINT_AFTER): it must remove the events it made and end
  # by the signal (status 130).
  VMSCAN_TEST_SIGINT_AFTER=workingset_refault vmscan -v --no-fentry stat --json -d 30 \
    > /tmp/km-int.json 2> /tmp/km-int.err; echo $? > /tmp/km-int.rc
  grep -c vmscan_kret /sys/kernel/tracing/kprobe_events > /tmp/km-int.left
  wc -c < /tmp/km-int.json > /tmp/km-int.out
  block kretmiss-int-err /tmp/km-int.err; block kretmiss-int-rc /tmp/km-int.rc
  block kretmiss-int-left /tmp/km-int.left; block kretmiss-int-out /tmp/km-int.out
fi
if run rss; then
  # Memory and per-interval read cost with this boot's possible CPUs: the
  # exporter reads every map each second; stat's peak is its start-up. One
  # at a time: attaching while another instance's trampolines run is
  # text patching that TCG has been seen to trip over (an int3 oops).
  cat /sys/devices/system/cpu/possible > /tmp/possible
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  echo 3 > /proc/sys/vm/drop_caches
  vmscan stat --json > /tmp/rs.json 2> /tmp/rs.err & A=$!
  waitc /tmp/rs.err
  sh -c 'echo $$ > '$CG'/t/cgroup.procs; exec cat /mnt/big > /dev/null'
  grep VmHWM /proc/$A/status > /tmp/rs.hwm
  kill -TERM $A; wait $A
  echo 3 > /proc/sys/vm/drop_caches
  vmscan export --listen 127.0.0.1:9465 > /tmp/re.out 2> /tmp/re.err & B=$!
  waitc /tmp/re.err
  sh -c 'echo $$ > '$CG'/t/cgroup.procs; exec cat /mnt/big > /dev/null'
  sleep 2; cat /proc/$B/stat > /tmp/re.stat0; sleep 10; cat /proc/$B/stat > /tmp/re.stat1
  grep VmHWM /proc/$B/status > /tmp/re.hwm
  kill -TERM $B; wait $B
  # The terminal UI, sized like a workstation's (start_tui).
  : > /tmp/rt.hwm; : > /tmp/rt.stat0; : > /tmp/rt.stat1
  if stty -F /dev/ttyS1 rows 50 cols 160 2> /tmp/rt.err; then
    echo 3 > /proc/sys/vm/drop_caches
    start_tui /tmp/rt.err
    sh -c 'echo $$ > '$CG'/t/cgroup.procs; exec cat /mnt/big > /dev/null'
    sleep 2; cat /proc/$C/stat > /tmp/rt.stat0; sleep 10; cat /proc/$C/stat > /tmp/rt.stat1
    grep VmHWM /proc/$C/status > /tmp/rt.hwm
    kill -TERM $C; wait $C
  fi
  # One reading of every aggregate map, in batches and element by element.
  vmscan bench-read --rounds 5 --reads 10 > /tmp/rb.json 2> /tmp/rb.err
  block rss-read /tmp/rb.json; block rss-read-err /tmp/rb.err
  sed -n 's/.*possible_cpus=\([0-9]*\).*/\1/p' /proc/cmdline > /tmp/possible.wanted
  block possible /tmp/possible; block possible-wanted /tmp/possible.wanted
  block rss-stat /tmp/rs.hwm; block rss-export /tmp/re.hwm
  block rss-export-cpu0 /tmp/re.stat0; block rss-export-cpu1 /tmp/re.stat1
  block rss-tui /tmp/rt.hwm; block rss-tui-err /tmp/rt.err
  block rss-tui-cpu0 /tmp/rt.stat0; block rss-tui-cpu1 /tmp/rt.stat1
fi
if run memcgs; then
  # What the exporter and the terminal UI cost per 1 s interval as memory
  # cgroups grow (100, 1,000, 10,000), on this configuration's cgroup
  # version. Each memcg is charged one page of page cache: one shell moves
  # itself into each and writes a small file (no fork per memcg). One
  # program at a time, as in rss.
  # /proc/PID/stat every 5 s for 100 s from the moment the program counts:
  # its start-up (the first sample reads every memcg) and a whole minute of
  # steady state.
  cpu_series() { k=0; : > $2; while [ $k -le 20 ]; do cat /proc/$1/stat >> $2; sleep 5; k=$((k+1)); done; }
  # The guest's loopback is down until brought up (scrapes go to it).
  ifconfig lo 127.0.0.1 up 2>/dev/null || ip link set lo up
  P=$CG/mc; mkdir -p $P /mnt/mc
  [ "$MAX" = memory.max ] && echo +memory > $P/cgroup.subtree_control
  have=0
  for n in 100 1000 10000; do
    t0=$(cut -d. -f1 /proc/uptime)
    sh -c 'i='$have'; while [ $i -lt '$n' ]; do mkdir '$P'/c$i && echo $$ > '$P'/c$i/cgroup.procs && echo x > /mnt/mc/f$i || exit 1; i=$((i+1)); done' || echo "@@ERROR memcgs: making $n memcgs failed"
    have=$n
    echo "$(ls $P | grep -c '^c[0-9]') memcgs made in $(( $(cut -d. -f1 /proc/uptime) - t0 )) s; MemAvailable $(grep MemAvailable /proc/meminfo | tr -s ' ' | cut -d' ' -f2) kB" > /tmp/mc-$n.made
    vmscan export --listen 127.0.0.1:9465 > /dev/null 2> /tmp/mce-$n.err & B=$!
    waitc /tmp/mce-$n.err
    cpu_series $B /tmp/mce-$n.cpu
    for k in 1 2 3 4 5; do time wget -q -O /dev/null http://127.0.0.1:9465/metrics; done 2> /tmp/mce-$n.scrape
    grep VmHWM /proc/$B/status > /tmp/mce-$n.hwm
    kill -TERM $B; wait $B
    : > /tmp/mct-$n.cpu; : > /tmp/mct-$n.hwm
    if stty -F /dev/ttyS1 rows 50 cols 160 2> /tmp/mct-$n.err; then
      start_tui /tmp/mct-$n.err
      cpu_series $C /tmp/mct-$n.cpu
      grep VmHWM /proc/$C/status > /tmp/mct-$n.hwm
      kill -TERM $C; wait $C
    fi
    block memcgs-$n-made /tmp/mc-$n.made
    block memcgs-$n-export-err /tmp/mce-$n.err; block memcgs-$n-export-hwm /tmp/mce-$n.hwm
    block memcgs-$n-export-cpu /tmp/mce-$n.cpu
    block memcgs-$n-export-scrape /tmp/mce-$n.scrape
    block memcgs-$n-tui-err /tmp/mct-$n.err; block memcgs-$n-tui-hwm /tmp/mct-$n.hwm
    block memcgs-$n-tui-cpu /tmp/mct-$n.cpu
  done
fi
if run hotplug; then
  # CPU hotplug under reclaim: cpu1 goes offline during one cgroup read of
  # the file and comes back during a second, while vmscan stat counts.
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  echo 3 > /proc/sys/vm/drop_caches
  vmscan stat --json > /tmp/hp.json 2> /tmp/hp.err & A=$!
  waitc /tmp/hp.err
  vmstat > /tmp/hp.v0
  : > /tmp/hp.states
  for step in 0 1; do
    sh -c 'echo $$ > '$CG'/t/cgroup.procs; exec cat /mnt/big > /dev/null' & W=$!
    sleep 1; echo $step > /sys/devices/system/cpu/cpu1/online || echo "@@ERROR cpu1 online=$step refused"
    echo "cpu1 $(cat /sys/devices/system/cpu/cpu1/online) online: $(cat /sys/devices/system/cpu/online)" >> /tmp/hp.states
    wait $W
    echo 3 > /proc/sys/vm/drop_caches
  done
  vmstat > /tmp/hp.v1
  kill -TERM $A; wait $A
  block hotplug /tmp/hp.json; block hotplug-err /tmp/hp.err; block hotplug-states /tmp/hp.states
  block hotplug-before /tmp/hp.v0; block hotplug-after /tmp/hp.v1
fi
if run demote; then
  # A memory node in a lower tier: node 2's memory is soft-reserved on the
  # command line (memmap=...%...+0xefffffff), dax_hmem makes it a device
  # DAX, kmem onlines it as system RAM in the slow tier, then demotion on.
  # Last of the scenarios: the others see the two nodes they expect.
  echo online_movable > /sys/devices/system/memory/auto_online_blocks 2>> /tmp/dm.err
  for m in /modules/dax/*.ko; do insmod "$m" 2>> /tmp/dm.err; done
  sleep 1
  D=$(ls /sys/bus/dax/devices 2>/dev/null | head -1)
  { echo "dax device: $D"; grep -i "soft reserved" /proc/iomem; dmesg | grep -i -E "hmem|dax|demotion" | tail -8; } > /tmp/dm.setup 2>&1
  if [ -n "$D" ]; then
    echo $D > /sys/bus/dax/drivers/device_dax/unbind 2>> /tmp/dm.err
    echo $D > /sys/bus/dax/drivers/kmem/new_id 2>> /tmp/dm.err
    [ -e /sys/bus/dax/drivers/kmem/$D ] || echo $D > /sys/bus/dax/drivers/kmem/bind 2>> /tmp/dm.err
  fi
  echo 1 > /sys/kernel/mm/numa/demotion_enabled 2>> /tmp/dm.err
  { echo "online: $(cat /sys/devices/system/node/online)"; for t in /sys/devices/virtual/memory_tiering/memory_tier*; do echo "$t: $(cat $t/nodelist)"; done
    grep MemTotal /sys/devices/system/node/node*/meminfo; } >> /tmp/dm.setup 2>&1
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  echo 3 > /proc/sys/vm/drop_caches
  vmscan stat --json > /tmp/dm.json 2> /tmp/dm.serr & A=$!
  waitc /tmp/dm.serr
  vmstat > /tmp/dm.v0
  sh -c 'echo $$ > '$CG'/t/cgroup.procs; exec cat /mnt/big > /dev/null'
  vmstat > /tmp/dm.v1
  kill -TERM $A; wait $A
  block demote-setup /tmp/dm.setup; block demote-err /tmp/dm.err
  block demote /tmp/dm.json; block demote-before /tmp/dm.v0; block demote-after /tmp/dm.v1
fi
if run bench; then
  # The host's bpftrace, perf and bpftool with their libraries, run in a
  # chroot on a second disk; swap on zram for the anonymous workload.
  mkdir -p /tools; mount -t ext4 /dev/vdb /tools || echo "@@ERROR no tools disk"
  for d in proc sys dev mnt tmp; do mount -o rbind /$d /tools/$d; done
  echo 384M > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0
  q=""; has quick && q="--quick"; has marks && q="$q --marks-only"
  # Progress goes to the console too (the host keeps a live log).
  xtask guest-bench $q 2>&1 > /tmp/bench.md | tee /tmp/bench.err
  block bench /tmp/bench.md; block bench-err /tmp/bench.err
fi
echo "@@AT end $(cut -d' ' -f1 /proc/uptime)"
echo "@@DONE"
poweroff -f
