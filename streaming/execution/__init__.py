"""The execution stream: signals -> risk engine -> orders -> fills -> positions, exactly once.

- ``stream.py``: ``ExecutionStream``, the consume-transform-produce loop around
  ``tradestream.execution.Executor`` in Kafka transactions (its docstring explains the
  batching, the clock and the order of the inputs).
- ``records.py``: decoding the inputs, the outputs' topics and keys.
- ``snapshots.py``: the executor's state on the compacted ``execution.snapshots``.
- ``live.py``: live orders handed to a venue (``OrderVenue``) after their transaction committed.
- ``commands.py``: the kill switch (``HaltCommand`` on ``risk.commands``) and the accounts' states,
  for `tradestream risk` and the Dagster UI.
- ``metrics.py``: Prometheus metrics.
- ``__main__.py``: ``python -m streaming.execution``, as the supervisor starts it.

The money, the risk rules and the fill models are the core library's (``tradestream/execution``);
this package only moves records. docs/execution.md explains the whole.
"""
