"""A stand-in stream for supervisor tests: publishes one record a second to a topic until killed.

Real process, real Kafka; it lets the tests start, probe, kill and restart a stream in
seconds instead of the minute a Beam job on Flink needs to come up.
Usage: python loop_producer.py BOOTSTRAP TOPIC
"""

import signal
import sys
import time

from confluent_kafka import Producer

running = True


def _stop(*_args) -> None:
    global running
    running = False


def main() -> None:
    bootstrap, topic = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, _stop)
    producer = Producer({"bootstrap.servers": bootstrap})
    print(f"producing to {topic}", flush=True)
    n = 0
    while running:
        producer.produce(topic, f"record {n}".encode(), b"key")
        producer.poll(0)
        n += 1
        time.sleep(1.0)
    producer.flush(5)


if __name__ == "__main__":
    main()
