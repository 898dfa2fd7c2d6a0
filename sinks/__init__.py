"""Where results go: the ClickHouse archive, Redis live state for the board, the alert topic."""
