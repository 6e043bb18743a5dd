"""Capture: read pcap/pcapng (plain or compressed) into numpy packet columns; simulate traffic."""
