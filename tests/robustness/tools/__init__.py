"""Tools of the robustness suite: a fault-injecting relay, a canary client, swarms of slow
clients, and counters of the proxy's resources. Loopback only; every tool is bounded in
time."""
