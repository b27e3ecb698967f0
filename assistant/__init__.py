"""The assistant: retrieve → answer → cite."""
