"""The benchmark suite behind ``bench/throughput.py`` (``make bench``).

Pure parts (wrk parsing, statistics, tables, configuration texts) are separate from the
parts that start processes and open sockets, so the former are unit-tested on their own.
"""
