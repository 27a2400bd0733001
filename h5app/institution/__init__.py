"""Institution (培训机构) pages: officers and verifiers."""
