#!/usr/bin/python3
"""The reference for bench/redis/lock_bench.sh: redis-py's Lock under the same load.

    lock_bench_ref.py <port> <contenders> <seconds> [spin|sleep]

`contenders` processes loop for `seconds`: take redis-py's Lock "ref:lock" (timeout 1 s,
blocking, polling every 1 ms), read "ref:counter", spend 1 ms, write the value + 1, release.
The 1 ms is spent spinning on the monotonic clock (default, as lock_bench.lua spends it) or,
with "sleep", in time.sleep (the way this reference used to spend it; a sleep is at least
1 ms and often more). Prints one line in lock_bench.lua's format:
    ref.redis_py.<spin|sleep>.c<n> acq_per_s=<n> p50_wait_ms=<x> p99_wait_ms=<x> max_wait_ms=<x>
        exclusive=<yes|no>
"""
import multiprocessing
import sys
import time

import redis


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def contender(port, seconds, start, how, queue):
    r = redis.Redis(port=port)
    lock = r.lock("ref:lock", timeout=1, sleep=0.001)
    spend = spin if how == "spin" else time.sleep
    waits = []
    stop = start + seconds
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        t0 = time.monotonic()
        lock.acquire(blocking=True)
        waits.append((time.monotonic() - t0) * 1000)
        v = int(r.get("ref:counter") or 0)
        spend(0.001)
        r.set("ref:counter", v + 1)
        lock.release()
    queue.put(waits)


def main():
    port, contenders, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    how = sys.argv[4] if len(sys.argv) > 4 else "spin"
    if how not in ("spin", "sleep"):
        sys.exit("lock_bench_ref.py: the 4th argument must be spin or sleep, not %r" % how)
    r = redis.Redis(port=port)
    r.delete("ref:lock", "ref:counter")
    queue = multiprocessing.Queue()
    start = time.time() + 0.5
    procs = [multiprocessing.Process(target=contender, args=(port, seconds, start, how, queue))
             for _ in range(contenders)]
    for p in procs:
        p.start()
    waits = []
    for _ in procs:
        waits.extend(queue.get())
    for p in procs:
        p.join()
    waits.sort()
    n = len(waits)
    counter = int(r.get("ref:counter") or 0)

    def pct(p):
        return waits[max(0, min(n - 1, int(n * p + 0.999999) - 1))] if n else 0.0

    print("ref.redis_py.%s.c%d acq_per_s=%.0f p50_wait_ms=%.2f p99_wait_ms=%.2f max_wait_ms=%.2f "
          "exclusive=%s" % (how, contenders, n / seconds, pct(0.5), pct(0.99),
                            waits[-1] if n else 0,
                            "yes" if counter == n else "no(counter=%d acquisitions=%d)" % (counter, n)))


if __name__ == "__main__":
    main()
