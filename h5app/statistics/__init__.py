"""查询统计: the supervision indicators of seed 001 annex 3, their daily roll-up, targets and charts."""
