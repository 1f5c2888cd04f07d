"""The systems Manhattan is compared with, started by the benchmark on loopback.

Each is a real server from Debian's packages (redis-server, etcd), installed by
``install.ensure`` when missing, run as child processes in a temp dir and ended
by their PIDs: a single Redis, a 3-master + 3-replica Redis Cluster and a single
etcd node.
"""
