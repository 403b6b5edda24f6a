"""HTTP routes of the sandbox, one router per API surface."""
