"""Local stand-ins for every outside service, served on 127.0.0.1 from recorded payloads."""
