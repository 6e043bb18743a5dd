"""Enrichment: IP -> country, AS, routed prefix (:mod:`.ipdata`) and AS -> ISP (:mod:`.registry`)."""
