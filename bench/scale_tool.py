#!/usr/bin/python3
"""Helpers of bench/scale.sh (stdlib only): write peer leases fast, watch a namespace's routes,
write timed lease events and measure an agent's CPU, lease-to-route delay and RSS.

  scale_tool.py fill    --endpoint URL --api v2|v3 --first K --count N
  scale_tool.py monitor --expect N                      (run inside the agent's namespace)
  scale_tool.py kernel  --first K --count C             (run inside the agent's namespace)
  scale_tool.py events  --endpoint URL --api v2|v3 --first K --count C --interval-ms 30
                        --pid PID --routes FILE [--tail-s 1]

Peer k (an integer) has the lease 10.<k/256>.<k%256>.0/24 -- key <prefix>/subnets/10.x.y.0-24 --
and the public IP 198.18.0.0 + k (inside 198.18.0.0/15, the benchmark range the agent's host
also has an address in, so that the host-gw route "via <public IP> dev eth0" is on-link).
Lease values are what flannel writes in each era (docs flannel-compat §3): v3 (flannel >= 0.18)
{"PublicIP":..,"PublicIPv6":null,"BackendType":"host-gw"} on an etcd lease with TTL 86400;
v2 (flanneld v0.11, observed) {"PublicIP":..,"BackendType":"host-gw"} with ttl=86400.
"""

import argparse
import base64
import errno
import http.client
import json
import os
import queue
import resource
import subprocess
import socket
import struct
import sys
import threading
import time
import urllib.parse

PREFIX = "/coreos.com/network"
TTL = 86400


def subnet_of(k):
    return "10.%d.%d.0" % ((k >> 8) & 255, k & 255)


def public_ip_of(k):
    base = (198 << 24) | (18 << 16)
    v = base + k
    return socket.inet_ntoa(struct.pack("!I", v))


def key_of(k):
    return "%s/subnets/%s-24" % (PREFIX, subnet_of(k))


def value_of(k, api):
    if api == "v3":
        return '{"PublicIP":"%s","PublicIPv6":null,"BackendType":"host-gw"}' % public_ip_of(k)
    return '{"PublicIP":"%s","BackendType":"host-gw"}' % public_ip_of(k)


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd:
    """One keep-alive HTTP connection to etcd (v3 JSON gateway or v2 keys API)."""

    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port or 2379
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method, path, body, ctype):
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=body, headers={"Content-Type": ctype})
                r = self.conn.getresponse()
                data = r.read()
                if r.status >= 300:
                    raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:200]))
                return json.loads(data) if data else {}
            except (http.client.HTTPException, OSError):
                if attempt == 2:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        raise AssertionError("unreachable")

    def v3(self, path, obj):
        return self.request("POST", "/v3/" + path, json.dumps(obj), "application/json")

    def grant(self):
        return self.v3("lease/grant", {"TTL": TTL})["ID"]

    def v3_put(self, k, lease):
        self.v3("kv/put", {"key": b64(key_of(k)), "value": b64(value_of(k, "v3")), "lease": lease})

    def v3_txn_puts(self, items):  # items: [(k, lease)]
        ops = [{"requestPut": {"key": b64(key_of(k)), "value": b64(value_of(k, "v3")), "lease": lease}}
               for k, lease in items]
        self.v3("kv/txn", {"success": ops})

    def v2_put(self, k):
        body = urllib.parse.urlencode({"value": value_of(k, "v2"), "ttl": TTL})
        self.request("PUT", "/v2/keys" + key_of(k), body, "application/x-www-form-urlencoded")


def parallel(endpoint, jobs, fn, workers=16):
    """Runs fn(etcd, job) for every job on `workers` threads, each with its own connection."""
    q = queue.Queue()
    for j in jobs:
        q.put(j)
    out, errors, lock = [], [], threading.Lock()

    def work():
        e = Etcd(endpoint)
        while True:
            try:
                j = q.get_nowait()
            except queue.Empty:
                return
            try:
                r = fn(e, j)
                with lock:
                    out.append(r)
            except Exception as ex:  # reported below; the run fails
                with lock:
                    errors.append(repr(ex))

    ts = [threading.Thread(target=work) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit("fill failed: %d errors, first: %s" % (len(errors), errors[0]))
    return out


def cmd_fill(a):
    t0 = time.monotonic()
    ks = list(range(a.first, a.first + a.count))
    if a.api == "v3":
        # One etcd lease per key, as flannel has; the keys then go in with transactions of
        # up to 128 puts (etcd's default --max-txn-ops).
        leases = parallel(a.endpoint, ks, lambda e, k: (k, e.grant()))
        batches = [leases[i:i + 128] for i in range(0, len(leases), 128)]
        parallel(a.endpoint, batches, lambda e, b: e.v3_txn_puts(b), workers=4)
    else:
        parallel(a.endpoint, ks, lambda e, k: e.v2_put(k))
    print("wrote %d %s leases in %.1f s" % (a.count, a.api, time.monotonic() - t0), file=sys.stderr)


# ---- route monitor (rtnetlink, in the agent's namespace) ----
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTA_DST, RTA_GATEWAY, RTA_TABLE, RTA_NH_ID = 1, 5, 15, 30
RTM_NEWNEXTHOP, NHA_ID, NHA_OIF, NHA_GATEWAY = 104, 1, 5, 6
RTMGRP_IPV4_ROUTE = 0x40
RT_TABLE_MAIN = 254
SO_RCVBUFFORCE = 33


def parse_routes(buf):
    """Yields (msg_type, 'a.b.c.d/len') for IPv4 main-table routes with a gateway."""
    off = 0
    while off + 16 <= len(buf):
        length, mtype = struct.unpack_from("=LH", buf, off)
        if length < 16:
            break
        if mtype in (RTM_NEWROUTE, RTM_DELROUTE) and length >= 28:
            family, dst_len, _, _, table = struct.unpack_from("=BBBBB", buf, off + 16)
            dst, gw = None, None
            a = off + 28
            end = off + length
            while a + 4 <= end:
                alen, atype = struct.unpack_from("=HH", buf, a)
                if alen < 4:
                    break
                val = buf[a + 4:a + alen]
                if atype == RTA_DST and len(val) == 4:
                    dst = socket.inet_ntoa(val)
                elif atype == RTA_GATEWAY:
                    gw = val
                elif atype == RTA_TABLE and len(val) == 4:
                    table = struct.unpack("=I", val)[0]
                a += (alen + 3) & ~3
            if family == socket.AF_INET and table == RT_TABLE_MAIN and dst and gw:
                yield mtype, "%s/%d" % (dst, dst_len)
        elif mtype == NLMSG_DONE:
            yield NLMSG_DONE, None
        off += (length + 3) & ~3


def dump_routes():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        s.bind((0, 0))
        req = struct.pack("=LHHLL", 28, RTM_GETROUTE, 0x301, 1, 0) + struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        s.send(req)
        found = []
        while True:
            buf = s.recv(1 << 20)
            for mtype, dst in parse_routes(buf):
                if mtype == NLMSG_DONE:
                    return found
                if mtype == RTM_NEWROUTE:
                    found.append(dst)
    finally:
        s.close()


def cmd_monitor(a):
    """Prints 'R <unix ns> <dst>' the first time each gateway route appears, 'ALL <unix ns>' when
    `expect` distinct ones have been seen, 'OVERRUN <unix ns>' when the socket dropped events
    (the missed routes are then taken from a dump, stamped with the dump's time)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    s.bind((0, RTMGRP_IPV4_ROUTE))
    seen = set(dump_routes())  # routes that exist before the agent starts (none expected)
    out = sys.stdout
    out.write("READY %d %d\n" % (time.time_ns(), len(seen)))
    out.flush()
    announced = False
    while True:
        try:
            buf = s.recv(1 << 20)
            now = time.time_ns()
            dsts = [d for t, d in parse_routes(buf) if t == RTM_NEWROUTE]
        except OSError as ex:
            if ex.errno != errno.ENOBUFS:
                raise
            now = time.time_ns()
            out.write("OVERRUN %d\n" % now)
            dsts = dump_routes()
            now = time.time_ns()
        for d in dsts:
            if d not in seen:
                seen.add(d)
                out.write("R %d %s\n" % (now, d))
        if not announced and len(seen) >= a.expect:
            out.write("ALL %d %d\n" % (now, len(seen)))
            announced = True
        out.flush()


# ---- timed lease events ----
def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (all threads, dead ones included)


def user_ticks(pid):
    """utime alone: the agent's own code, without the kernel's work in its system calls (a
    route insert's fib lookup, netlink)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[11])


def run_ns(pid):
    """CPU time of the live threads in ns (schedstat; finer than stat's clock ticks)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def settle(pid, quiet_s, deadline_s):
    """Waits until the agent used no CPU tick for quiet_s (its start-up work is over); returns
    the seconds waited, or -1 when it never went quiet within deadline_s."""
    t0 = time.monotonic()
    last, since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        time.sleep(0.1)
        c = cpu_ticks(pid)
        if c != last:
            last, since = c, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return round(time.monotonic() - t0, 2)
    return -1


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def route_times(path):
    t = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 3 and p[0] == "R":
                t.setdefault(p[2], int(p[1]))
    return t


def pct(sorted_vals, q):  # nearest rank
    if not sorted_vals:
        return float("nan")
    i = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[i]


def cmd_events(a):
    e = Etcd(a.endpoint)
    ks = list(range(a.first, a.first + a.count))
    leases = {k: e.grant() for k in ks} if a.api == "v3" else {}
    hz = os.sysconf("SC_CLK_TCK")
    settled = settle(a.pid, a.quiet_s, a.settle_deadline_s)
    # Idle cost: over a window as long as the event window (printed as before), and the rate
    # over --idle-s, long enough to hold whole periodic checks (tartand's full pass every 10 s;
    # a 4 s event window holds one or none, by chance). The event window's CPU less that rate
    # times its length is what the events themselves cost.
    window = a.count * a.interval_ms / 1000.0 + a.tail_s
    i0, in0 = cpu_ticks(a.pid), run_ns(a.pid)
    time.sleep(window)
    i1, in1 = cpu_ticks(a.pid), run_ns(a.pid)
    if a.idle_s > window:
        time.sleep(a.idle_s - window)
    idle_rate = (run_ns(a.pid) - in0) / max(a.idle_s, window)  # ns of CPU per s
    sent, acked, acked_at = {}, [], {}
    c0, n0, u0 = cpu_ticks(a.pid), run_ns(a.pid), user_ticks(a.pid)
    start = time.monotonic()
    for i, k in enumerate(ks):
        # Fixed rate: write i goes out at start + i*interval, whatever the previous one took.
        delay = start + i * a.interval_ms / 1000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent[k] = time.time_ns()
        if a.api == "v3":
            e.v3_put(k, leases[k])
        else:
            e.v2_put(k)
        acked_at[k] = time.time_ns()
        acked.append((acked_at[k] - sent[k]) / 1e6)
    want = {"%s/24" % subnet_of(k): k for k in ks}
    deadline = time.monotonic() + a.timeout_s
    while True:
        got = route_times(a.routes)
        if all(d in got for d in want) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    # Work the agent does just after the last route (a coalesced pass, say) belongs to the events.
    time.sleep(a.tail_s)
    c1, n1, u1 = cpu_ticks(a.pid), run_ns(a.pid), user_ticks(a.pid)
    event_window = time.monotonic() - start
    rss = vm_rss_kb(a.pid)
    # Settled: once the burst is over and the agent has gone quiet again (tartand hands freed
    # memory back 2 s after its watch went quiet), as the "RSS after settling".
    time.sleep(a.settle_after_s)
    settle(a.pid, a.quiet_s, a.settle_deadline_s)
    rss_settled = vm_rss_kb(a.pid)
    delays = sorted((got[d] - sent[k]) / 1e6 for d, k in want.items() if d in got)
    # After the put was acknowledged: the agent's share (watch delivery, apply) plus the
    # monitor's own scheduling, without etcd's commit.
    after_ack = sorted((got[d] - acked_at[k]) / 1e6 for d, k in want.items() if d in got)
    if a.detail:
        # One line per event, for lining up slow ones with the agent's log: subnet, sent,
        # acknowledged, route seen (unix ns; 0 when never seen).
        with open(a.detail, "w") as f:
            for d, k in want.items():
                f.write("%s %d %d %d\n" % (d, sent[k], acked_at[k], got.get(d, 0)))
    res = {
        "events": a.count,
        "routes_seen": len(delays),
        "cpu_ms_per_event": (c1 - c0) * 1000.0 / hz / a.count,
        "cpu_ticks": c1 - c0,
        "user_ms_per_event": (u1 - u0) * 1000.0 / hz / a.count,
        "system_ms_per_event": ((c1 - c0) - (u1 - u0)) * 1000.0 / hz / a.count,
        "hz": hz,
        "cpu_ms_per_event_schedstat": (n1 - n0) / 1e6 / a.count,
        "cpu_ms_per_event_net": max(0.0, (n1 - n0) - idle_rate * event_window) / 1e6 / a.count,
        "idle_cpu_ms_per_s": round(idle_rate / 1e6, 3),
        "settled_after_s": settled,
        "idle_ticks_same_window": i1 - i0,
        "idle_ms_schedstat_same_window": round((in1 - in0) / 1e6, 2),
        "window_s": round(time.monotonic() - start, 2),
        "delay_p50_ms": pct(delays, 50),
        "delay_p99_ms": pct(delays, 99),
        "delay_max_ms": delays[-1] if delays else float("nan"),
        "rss_kb": rss,
        "rss_settled_kb": rss_settled,
        "put_ack_p50_ms": pct(sorted(acked), 50),
        "put_ack_p99_ms": pct(sorted(acked), 99),
        "after_ack_p50_ms": pct(after_ack, 50),
        "after_ack_p99_ms": pct(after_ack, 99),
    }
    print(json.dumps(res))


def nl_send(sock, seq, mtype, flags, body):
    """Sends one netlink request and waits for the kernel's ack; returns the errno (0: ok)."""
    sock.send(struct.pack("=LHHLL", 16 + len(body), mtype, flags, seq, 0) + body)
    buf = sock.recv(65536)
    _, got = struct.unpack_from("=LH", buf, 0)
    if got == NLMSG_ERROR:
        return -struct.unpack_from("=i", buf, 16)[0]
    return 0


def nexthop_id(k):
    """The id tartand gives the nexthop through peer k's public IP: the address as a number."""
    return struct.unpack("!I", socket.inet_aton(public_ip_of(k)))[0]


def nl_route(sock, seq, k, add, nexthop=False):
    """One RTM_NEWROUTE (exclusive add) or RTM_DELROUTE for peer k's route, as the agent
    writes it; waits for the kernel's ack. With `nexthop`, an add is tartand's pair of
    requests (docs/adr/0021): the nexthop `id <public IP> via <public IP> dev eth0 proto 84`,
    then the route through it. Returns the errno (0 on success)."""
    oif = socket.if_nametoindex("eth0")
    create = 0x1 | 0x4 | 0x400 | 0x200  # REQUEST|ACK|CREATE|EXCL
    dst = struct.pack("=HH4s", 8, RTA_DST, socket.inet_aton(subnet_of(k)))
    if add and nexthop:
        nhm = struct.pack("=BBBBI", socket.AF_INET, 0, 84, 0, 0)
        nattrs = (struct.pack("=HHI", 8, NHA_ID, nexthop_id(k))
                  + struct.pack("=HH4s", 8, NHA_GATEWAY, socket.inet_aton(public_ip_of(k)))
                  + struct.pack("=HHI", 8, NHA_OIF, oif))
        err = nl_send(sock, seq, RTM_NEWNEXTHOP, create, nhm + nattrs)
        if err and err != errno.EEXIST:
            return err
        attrs = dst + struct.pack("=HHI", 8, RTA_NH_ID, nexthop_id(k))
    else:
        attrs = (dst + struct.pack("=HH4s", 8, RTA_GATEWAY, socket.inet_aton(public_ip_of(k)))
                 + struct.pack("=HHI", 8, 4, oif))  # RTA_OIF
    rtm = struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, RT_TABLE_MAIN, 84, 0, 1, 0)
    return nl_send(sock, seq, RTM_NEWROUTE if add else RTM_DELROUTE, create if add else 0x1 | 0x4,
                   rtm + attrs)


def cmd_kernel(a):
    """The kernel's own cost of the event routes, without any agent: the C routes of peers
    K.. (as the agent installed them: via the peer's public IP, dev eth0, tartan's protocol 84)
    are deleted, then inserted again into the table as it is (the N peer routes in place):
    - paced: one netlink add every --interval-ms, as the events came (the kernel's walk of the
      routes sharing the new one's fib_info hash bucket then runs with a cold cache, as it does
      for the agent); CPU = the thread's CPU time (time.thread_time_ns, user + system) around
      each send and ack only;
    - batch: one `ip -batch`, all adds back to back (hot cache); CPU from getrusage of the child.
    Both per route, the least of --rounds (the machine's other load only ever adds)."""
    def batch(verb):
        if a.nexthop:
            return "".join("nexthop %s id %d via %s dev eth0 proto 84\nroute %s %s/24 nhid %d proto 84\n"
                           % (verb, nexthop_id(k), public_ip_of(k), verb, subnet_of(k), nexthop_id(k))
                           for k in range(a.first, a.first + a.count))
        return "".join("route %s %s/24 via %s dev eth0 proto 84\n" % (verb, subnet_of(k), public_ip_of(k))
                       for k in range(a.first, a.first + a.count))

    def delete_all():
        # By destination only: the agent that ran before may mark its routes with another
        # protocol (flanneld v0.11: boot), and each must go before the exclusive adds.
        dels = "".join("route del %s/24\n" % subnet_of(k) for k in range(a.first, a.first + a.count))
        if a.nexthop:
            dels += "".join("nexthop del id %d\n" % nexthop_id(k) for k in range(a.first, a.first + a.count))
        subprocess.run(["ip", "-force", "-batch", "-"], input=dels.encode(),
                       stderr=subprocess.DEVNULL, check=False)

    res = {}
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, 0))
    for _ in range(a.rounds):
        delete_all()
        spent, seq = 0, 0
        start = time.monotonic()
        for i, k in enumerate(range(a.first, a.first + a.count)):
            delay = start + i * a.interval_ms / 1000.0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            seq += 1
            t0 = time.thread_time_ns()
            err = nl_route(sock, seq, k, True, a.nexthop)
            spent += time.thread_time_ns() - t0
            if err:
                sys.exit("kernel: adding %s failed: errno %d" % (subnet_of(k), err))
        paced = spent / 1e6 / a.count
        if "kernel_insert_ms" not in res or paced < res["kernel_insert_ms"]:
            res["kernel_insert_ms"] = paced
        delete_all()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["ip", "-batch", "-"], input=batch("add").encode(), check=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        hot = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000.0 / a.count
        if "kernel_insert_batch_ms" not in res or hot < res["kernel_insert_batch_ms"]:
            res["kernel_insert_batch_ms"] = hot
    sock.close()
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--endpoint", required=True)
    f.add_argument("--api", choices=["v2", "v3"], required=True)
    f.add_argument("--first", type=int, required=True)
    f.add_argument("--count", type=int, required=True)
    m = sub.add_parser("monitor")
    m.add_argument("--expect", type=int, required=True)
    ev = sub.add_parser("events")
    ev.add_argument("--endpoint", required=True)
    ev.add_argument("--api", choices=["v2", "v3"], required=True)
    ev.add_argument("--first", type=int, required=True)
    ev.add_argument("--count", type=int, default=100)
    ev.add_argument("--interval-ms", type=float, default=30)
    ev.add_argument("--pid", type=int, required=True)
    ev.add_argument("--routes", required=True)
    ev.add_argument("--tail-s", type=float, default=1.0)
    ev.add_argument("--timeout-s", type=float, default=60)
    ev.add_argument("--quiet-s", type=float, default=1.0)
    ev.add_argument("--idle-s", type=float, default=20.0)
    ev.add_argument("--settle-deadline-s", type=float, default=20)
    ev.add_argument("--settle-after-s", type=float, default=4.0,
                    help="wait this long after the burst before waiting for quiet and reading the settled RSS")
    ev.add_argument("--detail", help="write one line per event here (see cmd_events)")
    kn = sub.add_parser("kernel")
    kn.add_argument("--first", type=int, required=True)
    kn.add_argument("--count", type=int, required=True)
    kn.add_argument("--rounds", type=int, default=2)
    kn.add_argument("--interval-ms", type=float, default=30)
    kn.add_argument("--nexthop", action="store_true",
                    help="routes through nexthop objects, as tartand installs them (docs/adr/0021)")
    a = ap.parse_args()
    {"fill": cmd_fill, "monitor": cmd_monitor, "events": cmd_events, "kernel": cmd_kernel}[a.cmd](a)


if __name__ == "__main__":
    main()
