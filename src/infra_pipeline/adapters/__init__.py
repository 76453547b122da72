"""I/O at the edges: GitHub, Terraform, processes, probes, suites, the LLM, the terminal,
the Actions environment. Imported by flows, onboarding and commands; never by core."""
