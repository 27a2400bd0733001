"""Bureau (人社部门) console."""
