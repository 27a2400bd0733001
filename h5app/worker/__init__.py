"""Worker (劳动者) pages."""
