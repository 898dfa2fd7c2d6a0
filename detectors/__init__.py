"""Pure detection logic: (state, event, rules) -> (state, signals). No I/O, no clocks, no Kafka."""
