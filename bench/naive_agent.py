"""The baseline: a plain per-event Faust agent with one table write per event.

What a first Faust implementation looks like: JSON-decode each event, add its total to the
customer's spend in a table. Run by bench/profile_path.py; it serves its count at /stats.
"""

from __future__ import annotations

import json
import os
from typing import Any

import faust

from streams.kafka_security import faust_credentials
from streams.settings import Settings
from streams.worker import quiet_worker

app = faust.App(
    os.environ["NAIVE_APP_ID"],
    broker=f"kafka://{os.environ['NAIVE_BOOTSTRAP']}",
    # How to log in is the SEGSTREAM_KAFKA_* environment's, as the segstream workers beside it.
    broker_credentials=faust_credentials(Settings()),
    store="rocksdb://",
    datadir=os.environ["NAIVE_DATA_DIR"],
    web_host="127.0.0.1",
    web_port=int(os.environ["NAIVE_WEB_PORT"]),
    topic_partitions=int(os.environ["NAIVE_PARTITIONS"]),
    consumer_auto_offset_reset="earliest",
    table_standby_replicas=0,
)
events = app.topic(
    os.environ["NAIVE_TOPIC"],
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)
spend = app.Table("spend", default=int, partitions=int(os.environ["NAIVE_PARTITIONS"]))
processed = {"count": 0}


@app.agent(events)
async def count_spend(stream: Any) -> None:
    async for event in stream:
        data = json.loads(event)
        key = data.get("customer_id") or data.get("anonymous_id")
        if data.get("type") == "purchase":
            spend[key] = spend[key] + round(float(data["total"]) * 100)
        else:
            spend[key] = spend[key]
        processed["count"] += 1


@app.page("/stats")
async def stats(web: Any, request: Any) -> Any:
    return web.json({"received": processed["count"]})


if __name__ == "__main__":
    # The same quiet worker segstream runs, so neither pays for the spinner's debug logging.
    quiet_worker(app, "WARNING").execute_from_commandline()
