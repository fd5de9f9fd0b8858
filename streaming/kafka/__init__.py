"""The Kafka access layer: every client, every bounded read and the Beam IO start here.

- ``clients``: ``KafkaClientConfig`` (which cluster, with which credentials; picklable, secrets
  never in its repr) and the factories for Consumer, Producer and AdminClient.
- ``ranges``: the bounded offset-range reader (``OffsetReader``) and what is built on it:
  ``read_time_range``, the probes ``newest_record`` and ``consumer_lag``.
- ``topics``: the platform's topics on the configured cluster (``ensure_topics``).
- ``beam``: ``ReadFromKafka`` / ``WriteToKafka`` for the Beam jobs.
"""
