"""The parts of ``python -m bench.load`` (bench/load.py: the run, its options and its
targets), one job each:

- ``scratch``: what the run stands on: a scratch registry, a private cluster, roads;
- ``traffic``: the mix of requests citizens and analysts send, read from the API;
- ``writes``: the agencies' writes, with their keys and ETags, and what they acknowledged;
- ``phases``: the phases (a) to (f) under the load generator (bench/loadgen.py);
- ``faults``: PostgreSQL and the routing engines stopped and started under the load;
- ``meters``: where the CPU went in each phase (client, server, PostgreSQL, neighbours);
- ``report``: the tables, the checks of the stored writes and ratings, pass or fail.
"""
