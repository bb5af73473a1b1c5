#!/usr/bin/env python3
"""The guide's StreamLLConsumer (docs: Consumer Groups), run against what the C++ library wrote.

Usage: guide_consumer.py REDIS_URL STREAM GROUP CONSUMER EXPECTED_COUNT
Consumes with xreadgroup/xack exactly as the guide does until EXPECTED_COUNT events were
processed (or 60 s passed), then prints a JSON summary on stdout.
"""
import json
import sys
import time

import redis


class StreamLLConsumer:
    def __init__(self, redis_url, stream_key, consumer_group, consumer_name):
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.stream_key = stream_key
        self.consumer_group = consumer_group
        self.consumer_name = consumer_name
        self.counts = {}
        self.models = {}
        self.errors = []
        self.tokens = []
        self.processed = 0

        # Create consumer group if it doesn't exist
        try:
            self.redis.xgroup_create(stream_key, consumer_group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def consume_events(self, expected, deadline):
        while self.processed < expected and time.time() < deadline:
            events = self.redis.xreadgroup(
                self.consumer_group,
                self.consumer_name,
                {self.stream_key: ">"},
                count=100,
                block=1000,
            )
            for stream_name, stream_events in events:
                for event_id, fields in stream_events:
                    self.process_event(event_id, fields)
                    self.redis.xack(self.stream_key, self.consumer_group, event_id)

    def process_event(self, event_id, fields):
        event = json.loads(fields["event"])
        self.processed += 1
        self.counts[event["event_type"]] = self.counts.get(event["event_type"], 0) + 1
        if event["event_type"] == "llm_call":
            self.handle_llm_call(event)
        elif event["event_type"] == "error":
            self.handle_error(event)
        elif event["event_type"] == "token":
            self.handle_token(event)

    def handle_llm_call(self, event):
        model = event["data"].get("model", "unknown")
        self.models[model] = self.models.get(model, 0) + 1

    def handle_error(self, event):
        self.errors.append(event["data"].get("error_type"))

    def handle_token(self, event):
        self.tokens.append(event["data"].get("token", ""))


def main():
    url, stream, group, name, expected = sys.argv[1:6]
    consumer = StreamLLConsumer(url, stream, group, name)
    consumer.consume_events(int(expected), time.time() + 60)
    print(json.dumps({
        "processed": consumer.processed,
        "counts": consumer.counts,
        "models": consumer.models,
        "errors": consumer.errors,
        "tokens": "".join(consumer.tokens),
    }))


if __name__ == "__main__":
    main()
