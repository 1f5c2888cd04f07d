"""The Manhattan wire contract: .proto sources and their generated code."""
