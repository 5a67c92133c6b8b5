"""The Redis contract under load: the documented one-round-trip read while the sink writes.

    bash scripts/bench.sh              (starts its own Redis; runs this after the stream benchmark)
    .venv/bin/python -m bench.redis_contract    (against SEGSTREAM_REDIS_URL)
        -> redis_read_p50_ms, redis_read_p99_ms, redis_write_customers_per_s and the same-run
           baselines redis_read_hgetall_p50_ms, _p99_ms, redis_write_plain_customers_per_s;
           redis_bytes_per_customer (the contract's keys but the bounded change streams, per
           customer, in 1-2 segments each)

The writer publishes batches of membership changes (every customer's segments flip each round, so
every write is a real change: hash, ledger, member sets, counters, change feed) through
``RedisWriter``. Meanwhile a reader process reads random customers in a closed loop, alternating
``SegmentClient.segments`` (what a front end calls: the hash, and the alias's when there is one)
with a plain ``HGETALL`` of the same key: the baseline measured in the same run. The write baseline
is the pre-contract writer's shape: one pipelined ``DEL`` + ``HSET`` + ``SADD``/``SREM`` per
customer, without versions.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import statistics
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType

from bench.harness import merge_results
from streams.client import SegmentClient
from streams.pipeline.batch import MembershipChange
from streams.redis_connection import sync_client
from streams.settings import Settings
from streams.sink.redis_keys import customer_key, members_key
from streams.sink.redis_writer import RedisWriter, SinkLimits, connect, membership_json

PREFIX = "segstream-bench:v2"
CUSTOMERS = 20_000
BATCH = 500
ROUNDS = 6
SEGMENTS = (("vip", "lapsing"), ("window_shoppers",))


def _changes(round_no: int, customers: list[str], now: float) -> list[MembershipChange]:
    current, previous = SEGMENTS[round_no % 2], SEGMENTS[(round_no + 1) % 2]
    return [
        MembershipChange(
            customer_id=customer,
            segments=dict.fromkeys(current, now),
            variants=dict.fromkeys(current, "treatment"),
            entered=frozenset(current),
            exited=frozenset(previous) if round_no else frozenset(),
            profile_version=round_no,
            rules_version="bench",
            reason="event",
        )
        for customer in customers
    ]


def _batches(customers: list[str]) -> list[list[str]]:
    return [customers[i : i + BATCH] for i in range(0, len(customers), BATCH)]


async def _write_rounds(settings: Settings, first_round: int, rounds: int) -> float:
    """Customers written per second over ``rounds`` rounds through the contract's writer."""
    client = connect(settings)
    writer = RedisWriter(client, PREFIX, SinkLimits(3600, 3600, 100_000))
    customers = [f"c{n}" for n in range(CUSTOMERS)]
    version = first_round * CUSTOMERS
    started = time.perf_counter()
    for round_no in range(first_round, first_round + rounds):
        for batch in _batches(customers):
            version += 1
            now = time.time()
            changes = _changes(round_no, batch, now)
            await writer.publish(changes, [], [], partition=0, version=version, now=now)
    elapsed = time.perf_counter() - started
    await client.aclose()
    return rounds * CUSTOMERS / elapsed


async def _write_plain(settings: Settings, rounds: int) -> float:
    """The baseline: the same changes as unversioned pipelined commands, no script."""
    client = connect(settings)
    customers = [f"p{n}" for n in range(CUSTOMERS)]
    started = time.perf_counter()
    for round_no in range(rounds):
        for batch in _batches(customers):
            pipe = client.pipeline(transaction=True)
            for change in _changes(round_no, batch, time.time()):
                key = customer_key(PREFIX, change.customer_id)
                fields = {sid: membership_json(change, sid) for sid in change.segments}
                pipe.delete(key)
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                for sid in change.entered:
                    pipe.sadd(members_key(PREFIX, 0, sid), change.customer_id)
                for sid in change.exited:
                    pipe.srem(members_key(PREFIX, 0, sid), change.customer_id)
            await pipe.execute()
    elapsed = time.perf_counter() - started
    await client.aclose()
    return rounds * CUSTOMERS / elapsed


def _reader(settings: Settings, stop: EventType, results: Connection) -> None:
    """Closed-loop reads until ``stop``; sends (script latencies, HGETALL latencies) in ms."""
    conn = sync_client(settings)
    client = SegmentClient(conn, PREFIX)
    rng = random.Random(7)
    script_ms: list[float] = []
    plain_ms: list[float] = []
    client.segments("c0")  # load the script once, outside the measurement
    while not stop.is_set():
        customer = f"c{rng.randrange(CUSTOMERS)}"
        started = time.perf_counter()
        client.segments(customer)
        script_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        conn.hgetall(customer_key(PREFIX, customer))
        plain_ms.append((time.perf_counter() - started) * 1000)
    results.send((script_ms, plain_ms))
    conn.close()


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _bytes_per_customer(settings: Settings) -> float:
    """What the contract's keys take in Redis (MEMORY USAGE, exact), per customer written: the
    hash, the ledger, and the shares of the member sets and counters. Not the change streams:
    they are bounded by SEGSTREAM_REDIS_CHANGES_MAXLEN, whatever the customers."""
    conn = sync_client(settings)
    keys = [k for k in conn.scan_iter(match=f"{PREFIX}:*", count=1000) if b":changes" not in k]
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    total = sum(size or 0 for size in pipe.execute())
    conn.close()
    return total / CUSTOMERS


def _clear(settings: Settings) -> None:
    conn = sync_client(settings)
    for key in conn.scan_iter(match=f"{PREFIX}:*", count=1000):
        conn.delete(key)
    conn.close()


def main() -> None:
    settings = Settings()
    _clear(settings)
    plain_per_s = asyncio.run(_write_plain(settings, ROUNDS))
    _clear(settings)  # the baseline's keys: not the contract's memory
    asyncio.run(_write_rounds(settings, 0, 1))  # every customer exists before reads start
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    receive, send = context.Pipe(duplex=False)
    reader = context.Process(target=_reader, args=(settings, stop, send))
    reader.start()
    time.sleep(0.5)  # let the reader start its loop before the timed writes
    per_s = asyncio.run(_write_rounds(settings, 1, ROUNDS))
    stop.set()
    script_ms, plain_ms = receive.recv()
    reader.join(30)
    bytes_per_customer = _bytes_per_customer(settings)
    _clear(settings)
    values = {
        "redis_read_p50_ms": round(_percentile(script_ms, 50), 3),
        "redis_read_p99_ms": round(_percentile(script_ms, 99), 3),
        "redis_read_hgetall_p50_ms": round(_percentile(plain_ms, 50), 3),
        "redis_read_hgetall_p99_ms": round(_percentile(plain_ms, 99), 3),
        "redis_write_customers_per_s": round(per_s),
        "redis_write_plain_customers_per_s": round(plain_per_s),
        "redis_write_vs_plain": round(per_s / plain_per_s, 2),
        "redis_bytes_per_customer": round(bytes_per_customer),
    }
    print(
        f"{len(script_ms)} reads under {ROUNDS * CUSTOMERS} concurrent customer writes: "
        f"p50 {values['redis_read_p50_ms']} ms, p99 {values['redis_read_p99_ms']} ms "
        f"(plain HGETALL p50 {values['redis_read_hgetall_p50_ms']} ms, "
        f"p99 {values['redis_read_hgetall_p99_ms']} ms); "
        f"writes {values['redis_write_customers_per_s']} customers/s "
        f"(unversioned pipeline {values['redis_write_plain_customers_per_s']}/s); "
        f"{values['redis_bytes_per_customer']} bytes of Redis per customer"
    )
    merge_results(values)


if __name__ == "__main__":
    main()
