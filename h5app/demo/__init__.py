"""Demo mode: realistic seed data and a page that mints channel SSO tickets."""
