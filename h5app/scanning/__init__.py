"""Scan guns at the front desk: registered devices (devices.py), the judging of what they read
with the voucher engine (judge.py), the JSON endpoint the scanner bridge posts to (api.py) and the
institution's scan station pages (station.py)."""
