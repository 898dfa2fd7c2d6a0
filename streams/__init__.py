"""The Faust worker: the app, its topics, the agents and tables, and the replay driver."""
