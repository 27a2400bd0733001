"""People records (人员信息, 大数据比对; PRODUCT.md §10): what the bureau's social-insurance and
employment systems, a partner's API and a channel's ticket say about a person, merged by one rule
(records.py), checked field by field (fields.py), and imported in bulk from a file (importer.py)."""
