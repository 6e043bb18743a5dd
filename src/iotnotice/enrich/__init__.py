"""Enrichment: IP -> country, AS and routed prefix (``ipdata``); AS -> ISP (``registry``)."""
