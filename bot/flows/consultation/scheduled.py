"""Consultations schedule nothing: no clock runs on a consultation and no reminder row
names one. Its rows are purged after the policy's retention period by
``bot/retention.py`` (run weekly by ``bot/jobs.py``), and the weekly figures that count
them are ``bot/report.py``'s.
"""
