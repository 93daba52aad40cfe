"""The city's certificate authority."""
