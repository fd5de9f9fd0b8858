"""What the Beam jobs on Flink share: checkpoints and resuming (``checkpoints``), worker
processes and stop signals (``control``), the module entry points' common ground
(``entry``), and the FlinkRunner smoke test (``smoke``)."""
