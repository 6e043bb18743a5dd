"""The ISP toolkit: an ISP's own deployment that turns report lines into alerted subscribers.

Reports (Shadowserver CSV, X-ARF v4, JSON, or pulled from the coordinator's API) become ISP-side
cases; RADIUS, DHCP and CGNAT logs map each case's (address, time, port) to a subscriber; alerts
and the walled garden reach the subscriber; only (notice ID, status) goes back to the coordinator.
Subscriber identities never leave this deployment's database.
"""
